"""``/metrics`` of running services after some traffic: one referral from the caseworker's
request to the shelter's webhook, a request without a token, and a forged event on the
bus. Every metric family docs/operations.md promises is there with the values the
traffic implies, and no id, subject or personal value is in any of it."""

from __future__ import annotations

import io
import json
import logging

from nats.js import JetStreamContext
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from services.referral.domain.commands import referral_id_for
from tests.integration.case.stories import SECRETS
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import eventually
from tests.integration.observability.conftest import BUSTON, System, refer_to_shelter

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float | None:
    return found.get((name, frozenset(labels.items())))


async def scrape(client: object) -> str:
    r = await client.get("/metrics")  # type: ignore[attr-defined]
    assert r.status_code == 200, r.text
    return str(r.text)


def dead_letters(consumer: str, cause: str) -> float:
    labels = {"consumer": consumer, "cause": cause}
    return REGISTRY.get_sample_value("safepath_consumer_dead_letters_total", labels) or 0.0


async def test_a_scrape_after_a_referral_shows_the_work_and_no_identity(
    system: System, js: JetStreamContext, namespace: str
) -> None:
    root = logging.getLogger()
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(root.handlers[0].formatter)
    root.addHandler(handler)
    forged_before = dead_letters("case-referral-events", "unauthentic")
    receiver = await Receiver().start()
    try:
        referred = await refer_to_shelter(system, receiver.url)
        await eventually(lambda: _value(receiver.received), lambda r: len(r) >= 1)
        # A request without a token, refused by the guard before any route.
        assert (await system.case.get(f"/cases/{referred.case_id}")).status_code == 401
        # An event nobody signed, on the referral service's subjects: the case service's
        # consumer dead-letters it.
        await js.publish(
            f"{namespace}.referral.forged.ReferralAccepted",
            json.dumps({"type": "org.safepath.referral.ReferralAccepted.v1"}).encode(),
            headers={"Nats-Msg-Id": "forged-1"},
        )
        await eventually(
            lambda: _value(dead_letters("case-referral-events", "unauthentic")),
            lambda n: n >= forged_before + 1,
        )
        # The relays catch up; the gauges say so (a scrape refreshes at most once a second).
        case = await eventually(
            lambda: _samples(system.case),
            lambda s: value(s, "safepath_relay_lag_events", service="case") == 0.0,
        )
        referral = await eventually(
            lambda: _samples(system.referral),
            lambda s: value(s, "safepath_referrals_awaiting_answer", urgency="urgent") == 1.0,
        )
        notify_text = await scrape(system.notify)
    finally:
        await receiver.stop()
        root.removeHandler(handler)
    notify = samples(notify_text)

    # HTTP, by route template and status, in the case service.
    requests = "safepath_http_requests_total"
    assert value(case, requests, service="case", method="POST", route="/cases", status="201")
    assert value(
        case, requests, service="case", method="GET", route="/cases/{case_id}", status="401"
    )
    assert value(
        case,
        requests,
        service="case",
        method="POST",
        route="/cases/{case_id}/referrals",
        status="202",
    )
    assert value(
        case,
        "safepath_http_request_duration_seconds_count",
        service="case",
        method="POST",
        route="/cases",
    )
    # Relay, sealer, store.
    assert (value(case, "safepath_relay_events_published_total", service="case") or 0) >= 3
    assert value(case, "safepath_relay_lag_seconds", service="case") == 0.0
    assert value(case, "safepath_sealer_lag_events", service="case") is not None
    assert value(case, "safepath_oldest_open_transaction_seconds", service="case") is not None
    # Consumers: the forged event dead-lettered; the routed referral handled; no lag left.
    assert (
        value(
            case,
            "safepath_consumer_dead_letters_total",
            consumer="case-referral-events",
            cause="unauthentic",
        )
        or 0
    ) >= 1
    assert (
        value(case, "safepath_consumer_messages_acked_total", consumer="case-referral-events") or 0
    ) >= 1
    assert value(case, "safepath_consumer_pending_messages", consumer="case-referral-events") == 0
    assert (
        value(
            referral, "safepath_consumer_messages_received_total", consumer="referral-case-events"
        )
        or 0
    ) >= 1
    # The referral waits for the shelter's answer; nothing is overdue.
    assert value(referral, "safepath_referrals_overdue", urgency="urgent") == 0.0
    assert value(referral, "safepath_referrals_awaiting_answer", urgency="emergency") == 0.0
    # notify: the webhook POST and the NATS message went out.
    assert (
        value(notify, "safepath_notify_deliveries_total", channel="webhook", outcome="ok") or 0
    ) >= 1
    assert (
        value(notify, "safepath_notify_deliveries_total", channel="nats", outcome="ok") or 0
    ) >= 1
    assert value(notify, "safepath_notify_delivery_duration_seconds_count", channel="webhook")

    # Every scrape-time probe worked (their gauges are fresh), in all three services.
    for found in (case, referral, notify):
        failed = {k: v for k, v in found.items() if k[0] == "safepath_metrics_probe_failures_total"}
        assert not failed, failed
    assert value(notify, "safepath_consumer_pending_messages", consumer="notify-referrals") == 0

    # Nothing identifying in any of it.
    rid = referral_id_for(referred.request_id, "shelter")
    everything = "\n".join([await scrape(system.case), await scrape(system.referral), notify_text])
    for secret in (referred.case_id, referred.request_id, rid, "caseworker-1", *SECRETS):
        assert secret not in everything, secret
    assert BUSTON not in everything  # a provider is not a label either

    # The request log lines carry status and duration.
    lines = [json.loads(x) for x in sink.getvalue().splitlines() if x.startswith("{")]
    logged = [x for x in lines if x.get("event") == "request" and x.get("route") == "/cases"]
    assert logged and logged[0]["status"] == 201 and logged[0]["duration_ms"] > 0


async def _samples(client: object) -> Samples:
    return samples(await scrape(client))


async def _value(x: object) -> object:
    return x
