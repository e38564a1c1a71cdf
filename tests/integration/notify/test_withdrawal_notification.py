"""A withdrawal reaches every provider the referral reached: on its NATS subject and its
webhook, in its language, saying stop and delete; nothing about the person in it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.notify.app.subjects import notifications_stream_name, provider_durable
from shared.events.referral import DataDeletionRequested
from tests.integration.notify.conftest import Token
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import (
    OTHER_PROVIDER,
    PLANTED,
    PROVIDER,
    envelope,
    eventually,
    notify_events,
    publish,
    routed,
)


async def test_every_provider_told_to_delete_hears_it_on_its_subject_and_webhook(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    r = await client.put(
        f"/providers/{PROVIDER}/webhook",
        json={"url": receiver.url},
        headers=auth("provider", provider_id=PROVIDER),
    )
    assert r.status_code == 201, r.text
    # Given a referral routed to Buston (which declined), then to Femida
    first = routed(provider_id=OTHER_PROVIDER)
    second = routed(
        first.referral_id, case_id=first.case_id, request_id=first.request_id, attempt=2
    )
    await publish(js, namespace, envelope(first, first.referral_id, version=1))
    await publish(js, namespace, envelope(second, second.referral_id, version=2))
    await eventually(lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 2)

    # When the referral service tells both to delete it
    requested = DataDeletionRequested(
        referral_id=first.referral_id,
        case_id=first.case_id,
        provider_ids=[PROVIDER, OTHER_PROVIDER],
        cause="consent_withdrawn",
        confirm_by=datetime(2030, 1, 1, tzinfo=UTC),
    )
    await publish(js, namespace, envelope(requested, first.referral_id, version=3))

    # Then each gets one "referral_withdrawn" on its own subject, in its language
    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 4
    )
    withdrawn = {q["recipient_id"]: q for q in queued if q["template"] == "referral_withdrawn"}
    assert set(withdrawn) == {PROVIDER, OTHER_PROVIDER}
    assert withdrawn[PROVIDER]["channels"] == ["nats", "webhook"]
    # six deliveries: each notification on NATS, and Femida's two on its webhook as well
    await eventually(lambda: notify_events(pool, "NotificationDelivered"), lambda d: len(d) == 6)
    for provider in (PROVIDER, OTHER_PROVIDER):
        sub = await js.pull_subscribe_bind(
            provider_durable(provider), stream=notifications_stream_name(namespace)
        )
        msgs = await sub.fetch(10, timeout=2.0)
        by_kind = {json.loads(m.data)["data"]["kind"]: m for m in msgs}
        # Two rounds may run at once, so the order on the subject is not fixed.
        assert sorted(by_kind) == ["new_referral", "referral_withdrawn"], provider
        withdrawal = by_kind["referral_withdrawn"]
        data = json.loads(withdrawal.data)["data"]
        assert data["actions"]["confirm_deletion"]["path"].endswith("/data-deleted")
        assert "sex" not in data and "region" not in data and "age_band" not in data
        text = withdrawal.data.decode()
        assert first.case_id not in text and not any(p in text for p in PLANTED)
    # And on Femida's webhook, signed like every delivery
    await eventually(lambda: _received(receiver), lambda n: n == 2)
    bodies = {json.loads(r.body)["data"]["kind"]: json.loads(r.body) for r in receiver.received}
    assert sorted(bodies) == ["new_referral", "referral_withdrawn"]
    assert bodies["referral_withdrawn"]["data"]["message"]["language"] == "tg"


async def _received(receiver: Receiver) -> int:
    return len(receiver.received)
