"""One referral is one trace across case, referral and notify: the caseworker's request,
each relay's publication, each consumer, notify's delivery round and its webhook POST
(``shared/tracing.py``). The three services run in this process, so one in-memory
tracer provider sees every span."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from services.referral.domain.commands import referral_id_for
from shared.settings import Settings
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import eventually
from tests.integration.observability.conftest import System, refer_to_shelter

REQUEST = "POST /cases/{case_id}/referrals"


def trace_of(spans: Sequence[ReadableSpan], trace_id: int) -> list[ReadableSpan]:
    return [s for s in spans if s.context is not None and s.context.trace_id == trace_id]


def named(spans: Sequence[ReadableSpan], name: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name == name]


async def test_one_referral_is_one_trace_across_the_three_services(
    system: System,
    spans: InMemorySpanExporter,
    pool: asyncpg.Pool,
    js: JetStreamContext,
    service_settings: object,
) -> None:
    receiver = await Receiver().start()
    try:
        referred = await refer_to_shelter(system, receiver.url)
        await eventually(lambda: _value(receiver.received), lambda r: len(r) >= 1)
    finally:
        await receiver.stop()

    [request] = named(spans.get_finished_spans(), REQUEST)
    assert request.kind == SpanKind.SERVER and request.parent is None
    assert request.context is not None
    trace_id = request.context.trace_id

    def complete(found: list[ReadableSpan]) -> bool:
        names = {s.name for s in found}
        return {
            "referral-case-events process",  # referral routes the request
            "notify-referrals process",  # notify queues the shelter's notification
            "notify-deliver-NotificationQueued process",  # the delivery round
            "deliver webhook",
            "case-referral-events process",  # the case hears the referral was routed
        } <= names

    found = await eventually(
        lambda: _value(trace_of(spans.get_finished_spans(), trace_id)), complete
    )

    # Every service took part, and every span hangs from the caseworker's request.
    assert {s.attributes.get("safepath.service") for s in found if s.attributes} >= {
        "case",
        "referral",
        "notify",
    }
    ids = {s.context.span_id for s in found if s.context is not None}
    for s in found:
        if s is not request:
            assert s.parent is not None and s.parent.span_id in ids, s.name
    # Each relay published in the trace: case -> referral -> notify.
    publishes = {
        s.attributes["messaging.destination.name"]
        for s in found
        if s.attributes and s.kind == SpanKind.PRODUCER
    }
    settings: Settings = system.settings
    assert {settings.stream_name(x) for x in ("case", "referral", "notify")} <= publishes
    [webhook] = named(found, "deliver webhook")
    assert webhook.kind == SpanKind.CLIENT
    assert webhook.attributes is not None and webhook.attributes["safepath.outcome"] == "ok"
    assert webhook.attributes["http.response.status_code"] == 200

    # No span names the case, the referral or the person.
    rid = referral_id_for(referred.request_id, "shelter")
    for s in found:
        text = s.name + json.dumps(dict(s.attributes or {}), default=str)
        assert referred.case_id not in text and rid not in text

    # The trace travelled in the events: stored with the referral request, and on the
    # bus as the signed CloudEvent's traceparent.
    stored = await pool.fetchval(
        "SELECT metadata->>'traceparent' FROM \"case\".event WHERE stream_id = $1"
        " AND event_type LIKE '%.ReferralRequested.%'",
        referred.case_id,
    )
    assert stored is not None and stored.split("-")[1] == f"{trace_id:032x}"
    routed = await pool.fetchval(
        "SELECT metadata->>'traceparent' FROM referral.event WHERE stream_id = $1"
        " AND event_type LIKE '%.ReferralRouted.%'",
        rid,
    )
    assert routed is not None and routed.split("-")[1] == f"{trace_id:032x}"
    stream = settings.stream_name("case")
    last = (await js.stream_info(stream)).state.last_seq
    on_bus = [json.loads((await js.get_msg(stream, seq=n)).data) for n in range(1, last + 1)]
    [requested] = [d for d in on_bus if ".ReferralRequested." in d["type"]]
    assert requested["traceparent"].split("-")[1] == f"{trace_id:032x}"
    assert "signature" in requested


async def _value(x: object) -> object:
    return x
