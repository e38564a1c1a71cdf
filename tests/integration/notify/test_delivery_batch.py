"""Delivery rounds of several notifications recorded together (one transaction, each
notification's own decision), and what happens when one of them loses a race: the batch
is rolled back and every round recorded alone, so each channel's outcome is recorded
exactly once for every notification."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from services.notify.app.channels import Sent, WebhookChannel
from services.notify.app.delivery import Delivery
from services.notify.domain.delivery import QueueNotification
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import PROVIDER, notify_events
from tests.integration.notify.test_delivery_round import (
    CountingPool,
    a_round,
    http,  # noqa: F401  (fixture)
    per_channel,
)

ROUNDS = 6


async def queue_more(r_pool: asyncpg.Pool, delivery: Delivery, n: int) -> list[str]:
    """``n`` more notifications for the provider, over NATS and its webhook."""
    ids = [str(uuid.uuid4()) for _ in range(n)]
    async with r_pool.acquire() as conn, conn.transaction():
        for nid in ids:
            await delivery.records.record(
                conn,
                nid,
                QueueNotification(
                    notification_id=nid,
                    referral_id=str(uuid.uuid4()),
                    case_id=str(uuid.uuid4()),
                    recipient_kind="provider",
                    recipient_id=PROVIDER,
                    channels=("nats", "webhook"),
                    template="new_referral",
                    language="tg",
                    notification={"specversion": "1.0", "id": nid, "data": {}},
                ),
                datetime.now(UTC),
                correlation_id="c",
            )
    return ids


class TogetherWebhook(WebhookChannel):
    """Answers no send until ``expected`` sends are waiting, so the rounds finish sending
    at nearly the same time (as a fetched batch of deliveries does under load); with
    ``race``, the first send of that notification first lets ``other`` deliver it."""

    def __init__(self, client: httpx.AsyncClient, expected: int) -> None:
        super().__init__(client, 2.0)
        self.expected = expected
        self.waiting = 0
        self.all_in = asyncio.Event()
        self.race: str | None = None
        self.other: Delivery | None = None

    async def send(
        self, url: str, secrets: Sequence[str], notification_id: str, body: bytes, now: datetime
    ) -> Sent:
        if notification_id == self.race and self.other is not None:
            other, self.other = self.other, None
            assert await other.deliver(notification_id, correlation_id="c")
        self.waiting += 1
        if self.waiting >= self.expected:
            self.all_in.set()
        await self.all_in.wait()
        return await super().send(url, secrets, notification_id, body, now)


@pytest.mark.usefixtures("streams")
async def test_rounds_finishing_together_are_recorded_together_each_channel_once(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
    receiver: Receiver,
    http: httpx.AsyncClient,  # noqa: F811
) -> None:
    hook = TogetherWebhook(http, ROUNDS)
    r = await a_round(pool, js, namespace, receiver, http, webhook=hook)
    ids = [r.notification_id, *await queue_more(pool, r.delivery, ROUNDS - 1)]
    r.pool.counted.clear()

    done = await asyncio.gather(*(r.delivery.deliver(nid, correlation_id="c") for nid in ids))

    assert all(done)
    delivered = await notify_events(pool, "NotificationDelivered")
    attempted = await notify_events(pool, "DeliveryAttempted")
    for nid in ids:
        assert per_channel(delivered, nid) == {"nats": 1, "webhook": 1}
        assert per_channel(attempted, nid) == {"nats": 1, "webhook": 1}
    async with pool.acquire() as conn:
        statuses = await conn.fetch(
            "SELECT status FROM notify.notification WHERE notification_id = ANY($1)", ids
        )
        views = await conn.fetchval(
            "SELECT count(*) FROM notify.delivery_attempt WHERE notification_id = ANY($1)", ids
        )
    assert [s["status"] for s in statuses] == ["delivered"] * ROUNDS
    assert views == 2 * ROUNDS
    # Fewer transactions than rounds (some were recorded together), and fewer reads of the
    # records and of the endpoint than rounds (rounds that started together read together).
    counted = r.pool.counted
    report = "\n".join(counted.statements)
    assert counted.transactions < ROUNDS, report
    reads = [q for q in counted.statements if "stream_id = ANY" in q]
    endpoints = [q for q in counted.statements if 'FROM "notify".webhook' in q]
    assert 1 <= len(reads) < ROUNDS, report
    assert 1 <= len(endpoints) < ROUNDS, report


@pytest.mark.usefixtures("streams")
async def test_a_batch_with_a_raced_round_is_recorded_round_by_round_nothing_twice(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
    receiver: Receiver,
    http: httpx.AsyncClient,  # noqa: F811
) -> None:
    hook = TogetherWebhook(http, ROUNDS)
    r = await a_round(pool, js, namespace, receiver, http, webhook=hook)
    ids = [r.notification_id, *await queue_more(pool, r.delivery, ROUNDS - 1)]
    d = r.delivery
    # Another round (another replica) delivers the third notification and records it
    # while this one's round for it is still sending: its snapshot is then stale.
    hook.race = ids[2]
    hook.other = Delivery(
        CountingPool(pool),
        d.records,
        d.queueing,
        d.webhooks,
        d.nats,
        WebhookChannel(http, 2.0),
        d.settings,
        "test",
    )

    done = await asyncio.gather(*(d.deliver(nid, correlation_id="c") for nid in ids))

    assert all(done)
    delivered = await notify_events(pool, "NotificationDelivered")
    attempted = await notify_events(pool, "DeliveryAttempted")
    for nid in ids:
        assert per_channel(delivered, nid) == {"nats": 1, "webhook": 1}, nid
        assert per_channel(attempted, nid) == {"nats": 1, "webhook": 1}, nid
    async with pool.acquire() as conn:
        views = await conn.fetchval(
            "SELECT count(*) FROM notify.delivery_attempt WHERE notification_id = ANY($1)", ids
        )
    assert views == 2 * ROUNDS


@pytest.mark.usefixtures("streams")
async def test_queueing_a_notification_again_appends_nothing_and_keeps_the_transaction(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
    receiver: Receiver,
    http: httpx.AsyncClient,  # noqa: F811
) -> None:
    """Queueing appends at version 0 without reading the stream; a second queueing of the
    same notification (a redelivered referral event) finds the stream there, reads it and
    appends nothing, and the caller's transaction goes on and commits."""
    r = await a_round(pool, js, namespace, receiver, http)
    (nid,) = await queue_more(pool, r.delivery, 1)
    command = QueueNotification(
        notification_id=nid,
        referral_id=str(uuid.uuid4()),
        case_id=str(uuid.uuid4()),
        recipient_kind="provider",
        recipient_id=PROVIDER,
        channels=("nats", "webhook"),
        template="new_referral",
        language="tg",
        notification={"specversion": "1.0", "id": nid, "data": {}},
    )
    async with pool.acquire() as conn, conn.transaction():
        again = await r.records.record(conn, nid, command, datetime.now(UTC), correlation_id="c")
        await conn.execute("SELECT 1")  # the transaction is not aborted

    assert again == []
    queued = [
        e for e in await notify_events(pool, "NotificationQueued") if e["notification_id"] == nid
    ]
    assert len(queued) == 1
    async with pool.acquire() as conn:
        views = await conn.fetchval(
            "SELECT count(*) FROM notify.notification WHERE notification_id = $1", nid
        )
    assert views == 1


@pytest.mark.usefixtures("streams")
async def test_rounds_recorded_together_keep_each_their_own_trace(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
    receiver: Receiver,
    http: httpx.AsyncClient,  # noqa: F811
) -> None:
    """What a round appends carries the trace of the event that asked for it, also when
    another round's task records it (one referral is one trace)."""
    hook = TogetherWebhook(http, ROUNDS)
    r = await a_round(pool, js, namespace, receiver, http, webhook=hook)
    ids = [r.notification_id, *await queue_more(pool, r.delivery, ROUNDS - 1)]
    traces = {nid: 0x5AFE0000 + i for i, nid in enumerate(ids, start=1)}
    r.pool.counted.clear()

    async def in_its_trace(nid: str) -> bool:
        span = SpanContext(traces[nid], 0x1000 + traces[nid], True, TraceFlags(1))
        token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(span)))
        try:
            return await r.delivery.deliver(nid, correlation_id="c")
        finally:
            otel_context.detach(token)

    assert all(await asyncio.gather(*(in_its_trace(nid) for nid in ids)))

    assert r.pool.counted.transactions < ROUNDS  # some rounds were recorded together
    rows = await pool.fetch(
        "SELECT stream_id, metadata->>'traceparent' AS tp FROM notify.event"
        " WHERE stream_id = ANY($1) AND event_type NOT LIKE '%NotificationQueued%'",
        ids,
    )
    assert len(rows) == 4 * ROUNDS  # two attempts, two deliveries each
    for row in rows:
        assert row["tp"] is not None
        assert int(row["tp"].split("-")[1], 16) == traces[row["stream_id"]], row
