"""One delivery round of a notification: try each pending channel once and record it.

A round reads the record once (folded, with the webhook endpoint when it is due), sends
on every pending channel with no connection held and no transaction open, then records
every channel's outcome in one transaction with one append at the version it read. If
another round appended first, it reads again and decides again; an outcome for a channel
already settled is dropped, and a settled channel is never tried again.

Rounds that finish sending while another batch is being recorded are recorded together:
one transaction, one append per notification at the version its round read, all their
attempts in one insert and their statuses in one update (``Records.append_rounds``). Each
notification's decision is still its own (``record_round`` on its own snapshot), and a
batch that fails for any reason (a stream another round moved on, an alert that failed,
Postgres gone) is rolled back whole and each of its rounds recorded alone, as before, so
a race or a failure in one notification never records or loses another's outcome. Two
rounds of the same notification are never in one batch.

JetStream drives the retries (the consumer naks with the configured backoff), so this
never sleeps. If the process dies between sending and recording, the message comes back
and the receiver sees the same notification id again (receivers deduplicate on it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from contextvars import Context
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry.context import Context as TraceContext
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.notify.app.channels import NatsChannel, Sent, WebhookChannel, body_of
from services.notify.app.queueing import Queueing
from services.notify.app.records import Recorded, Records, Round, Snapshot, in_trace
from services.notify.app.webhooks import Endpoint, Webhooks
from services.notify.config import NotifySettings
from services.notify.domain.delivery import (
    DeliveryEvent,
    DeliveryRecord,
    RecordAttempt,
    record_round,
)
from services.notify.domain.webhook_url import UnsafeWebhookUrl, vet_webhook_url
from shared.events.notify import Channel, NotificationFailed, NotificationQueued
from shared.eventstore import ConcurrencyError, StoredEvent
from shared.logging import get_logger
from shared.metrics import (
    DELIVERIES,
    DELIVERY_DURATION,
    NOTIFICATIONS_FAILED,
    delivery_outcome,
)
from shared.tracing import tracer

log = get_logger("safepath.notify")
_DEBUG = logging.getLogger("safepath.notify")

# Appends one round may lose to concurrent rounds of the same notification before it
# gives up (the consumer naks; the next round reads afresh).
_RACES = 5

# Rounds recorded in one transaction at most (the consumer fetches up to
# ``delivery_workers`` messages at a time, so a batch is rarely larger).
BATCH_ROUNDS = 64


@dataclass(eq=False)
class _Waiting:
    """A round waiting to be recorded with others; ``done`` gets its outcome, or None when
    it must be recorded alone."""

    snapshot: Snapshot
    queued: NotificationQueued
    attempts: list[RecordAttempt]
    correlation_id: str
    done: asyncio.Future[tuple[DeliveryRecord, Recorded] | None]
    trace: TraceContext  # the round's: what it appends stays in its trace


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Delivery:
    def __init__(
        self,
        pool: asyncpg.Pool,
        records: Records,
        queueing: Queueing,
        webhooks: Webhooks,
        nats: NatsChannel,
        webhook: WebhookChannel,
        settings: NotifySettings,
        environment: str,
        clock: Callable[[], datetime] = _utcnow,
        *,
        batch_rounds: bool = True,
    ) -> None:
        self.pool = pool
        self.batch_rounds = batch_rounds
        self._waiting: list[_Waiting] = []
        self._recorder: asyncio.Task[None] | None = None
        self._reads: list[tuple[str, asyncio.Future[tuple[Snapshot, Endpoint | None]]]] = []
        self._reader: asyncio.Task[None] | None = None
        self.records = records
        self.queueing = queueing
        self.webhooks = webhooks
        self.nats = nats
        self.webhook = webhook
        self.settings = settings
        self.environment = environment
        self.clock = clock

    async def deliver(self, notification_id: str, *, correlation_id: str) -> bool:
        """Try every pending channel once; True when no channel is pending any more.

        When to give up on a channel is the record's to say (``max_attempts`` attempts
        recorded this round), not how often JetStream delivered the message: a delivery
        to an instance that was paused or killed, or a round whose outcome could not be
        recorded (Postgres down), tried nothing that counts.
        """
        snapshot, endpoint = await self._read(notification_id)
        queued = snapshot.queued
        if queued is None:
            log.warning("notification_unknown", notification_id=notification_id)
            return True
        pending = [c for c in queued.channels if snapshot.state.needs_delivery(c)]
        if not pending:
            return snapshot.state.status != "queued"
        # No connection is held while sending: a slow webhook ties up no pool slot.
        body = body_of(queued.notification)
        sent = await asyncio.gather(*(self._attempt(c, queued, body, endpoint) for c in pending))
        max_attempts = self.settings.max_attempts
        attempts = [
            RecordAttempt(
                notification_id=notification_id,
                channel=channel,
                latency_ms=s.latency_ms,
                max_attempts=max_attempts,
                status_code=s.status_code,
                error_kind=s.error_kind,
            )
            for channel, s in zip(pending, sent, strict=True)
        ]
        after, recorded = await self._record(snapshot, queued, attempts, correlation_id)
        # Per attempt, so DEBUG, and built only when it is written (structlog's processors
        # run before the level is checked); the metrics and the record keep the outcome.
        if _DEBUG.isEnabledFor(logging.DEBUG):
            for channel, s in zip(pending, sent, strict=True):
                log.debug(
                    "delivery_attempted",
                    notification_id=notification_id,
                    channel=channel,
                    status_code=s.status_code,
                    error_kind=s.error_kind,
                    latency_ms=s.latency_ms,
                    outcome=[
                        type(e).__name__
                        for _, e in recorded
                        if getattr(e, "channel", None) == channel
                    ],
                )
        return after.status != "queued"

    async def _read(self, notification_id: str) -> tuple[Snapshot, Endpoint | None]:
        """The record, and the webhook endpoint when the webhook is due: read with the
        other rounds' reads waiting (``_read_waiting``), or alone."""
        if not self.batch_rounds:
            async with self.pool.acquire() as conn:
                return (await self._read_batch(conn, [notification_id]))[notification_id]
        read: asyncio.Future[tuple[Snapshot, Endpoint | None]] = (
            asyncio.get_running_loop().create_future()
        )
        self._reads.append((notification_id, read))
        if self._reader is None or self._reader.done():
            # A context of its own: it works for every waiting round, so it carries none
            # of the first one's (its notification id in the logs, its trace).
            self._reader = asyncio.create_task(self._read_waiting(), context=Context())
        return await read

    async def _read_waiting(self) -> None:
        """Read the records (and endpoints) the waiting rounds need, a batch at a time:
        one statement for the streams, one for the endpoints when a webhook is due."""
        await asyncio.sleep(0)  # rounds that started in the same turn join
        batch: list[tuple[str, asyncio.Future[tuple[Snapshot, Endpoint | None]]]] = []
        try:
            while self._reads:
                batch, self._reads = self._reads[:BATCH_ROUNDS], self._reads[BATCH_ROUNDS:]
                try:
                    async with self.pool.acquire() as conn:
                        found = await self._read_batch(conn, {nid for nid, _ in batch})
                except Exception as e:  # each round fails as its own read would have
                    for _, read in batch:
                        if not read.done():
                            read.set_exception(e)
                    continue
                for nid, read in batch:
                    if not read.done():
                        read.set_result(found[nid])
        finally:  # cancelled (shutdown)
            for _, read in batch + self._reads:
                if not read.done():
                    read.cancel()
            if asyncio.current_task() is self._reader:
                self._reader = None

    async def _read_batch(
        self, conn: asyncpg.Connection, ids: Collection[str]
    ) -> dict[str, tuple[Snapshot, Endpoint | None]]:
        snapshots = await self.records.read_many(conn, ids)
        due = {
            s.queued.recipient_id
            for s in snapshots.values()
            if s.queued is not None
            and "webhook" in s.queued.channels
            and s.state.needs_delivery("webhook")
        }
        endpoints = await self.webhooks.get_many(conn, due) if due else {}
        return {
            nid: (s, endpoints.get(s.queued.recipient_id) if s.queued is not None else None)
            for nid, s in snapshots.items()
        }

    async def _record(
        self,
        snapshot: Snapshot,
        queued: NotificationQueued,
        attempts: list[RecordAttempt],
        correlation_id: str,
    ) -> tuple[DeliveryRecord, Recorded]:
        """The round recorded with the others waiting (``_record_waiting``; a batch may
        hold this round only), or alone when their batch failed."""
        if self.batch_rounds:
            done: asyncio.Future[tuple[DeliveryRecord, Recorded] | None] = (
                asyncio.get_running_loop().create_future()
            )
            self._waiting.append(
                _Waiting(
                    snapshot, queued, attempts, correlation_id, done, otel_context.get_current()
                )
            )
            if self._recorder is None or self._recorder.done():
                self._recorder = asyncio.create_task(self._record_waiting(), context=Context())
            outcome = await done
            if outcome is not None:
                return outcome
        return await self._record_alone(snapshot, queued, attempts, correlation_id)

    async def _record_waiting(self) -> None:
        """Record the waiting rounds, a batch at a time, until none waits. Rounds that
        finish sending while a batch is recorded form the next one (group commit)."""
        await asyncio.sleep(0)  # rounds that finished sending in the same turn join
        batch: list[_Waiting] = []
        try:
            while self._waiting:
                batch, seen, rest = [], set(), []
                for w in self._waiting:
                    nid = w.queued.notification_id
                    if len(batch) < BATCH_ROUNDS and nid not in seen:
                        batch.append(w)
                        seen.add(nid)
                    else:
                        rest.append(w)
                self._waiting = rest
                try:
                    outcomes = await self._record_batch(batch)
                except Exception as e:  # any failure: each round alone, as before
                    log.debug("delivery_batch_failed", error=type(e).__name__, rounds=len(batch))
                    outcomes = [None] * len(batch)
                for w, outcome in zip(batch, outcomes, strict=True):
                    _resolve(w, outcome)
        finally:  # cancelled (shutdown): nobody waits for this task any more
            for w in batch + self._waiting:
                _resolve(w, None)
            if asyncio.current_task() is self._recorder:
                self._recorder = None

    async def _record_batch(
        self, batch: list[_Waiting]
    ) -> list[tuple[DeliveryRecord, Recorded] | None]:
        """Several notifications' rounds in one transaction, each decided on its own
        snapshot; raises (nothing written) when any of them cannot be recorded."""
        now = self.clock()
        decided = [(w, *record_round(w.snapshot.state, w.attempts, now)) for w in batch]
        rounds = [
            Round(w.queued.notification_id, w.snapshot, events, after, w.correlation_id, w.trace)
            for w, events, after in decided
            if events
        ]
        written: list[Recorded] = []
        if rounds:
            async with self.pool.acquire() as conn, conn.transaction():
                written = await self.records.append_rounds(conn, rounds, now)
                by_id = dict(zip((r.notification_id for r in rounds), written, strict=True))
                for w, events, after in decided:
                    if events:
                        with in_trace(w.trace):
                            recorded = by_id[w.queued.notification_id]
                            await self._alert(conn, w.queued, recorded, after, w.correlation_id)
        by_id = dict(zip((r.notification_id for r in rounds), written, strict=True))
        outcomes: list[tuple[DeliveryRecord, Recorded] | None] = []
        for w, _events, after in decided:
            recorded = by_id.get(w.queued.notification_id, [])
            self._count_failed(w.queued, recorded)
            outcomes.append((after, recorded))
        return outcomes

    def _count_failed(self, queued: NotificationQueued, recorded: Recorded) -> None:
        for _, event in recorded:
            if isinstance(event, NotificationFailed):
                NOTIFICATIONS_FAILED.labels(queued.recipient_kind).inc()

    async def _record_alone(
        self,
        snapshot: Snapshot,
        queued: NotificationQueued,
        attempts: list[RecordAttempt],
        correlation_id: str,
    ) -> tuple[DeliveryRecord, Recorded]:
        """Every channel's outcome in one transaction, appended at the version the round
        read. When another round appended first, read again and decide again: an outcome
        for a channel it settled is dropped, so nothing is recorded twice."""
        nid = queued.notification_id
        async with self.pool.acquire() as conn:
            for race in range(_RACES):
                now = self.clock()
                events, after = record_round(snapshot.state, attempts, now)
                if not events:
                    return after, []  # every channel was settled by another round
                try:
                    async with conn.transaction():
                        recorded = await self.records.append(
                            conn, nid, snapshot, events, after, now, correlation_id=correlation_id
                        )
                        await self._alert(conn, queued, recorded, after, correlation_id)
                except ConcurrencyError:
                    if race == _RACES - 1:
                        raise  # the message comes back; the next round starts afresh
                    log.info("delivery_record_raced", notification_id=nid)
                    snapshot = await self.records.read(conn, nid)
                    continue
                self._count_failed(queued, recorded)
                return after, recorded
        raise AssertionError("unreachable")

    async def _alert(
        self,
        conn: asyncpg.Connection,
        queued: NotificationQueued,
        recorded: list[tuple[StoredEvent, DeliveryEvent]],
        after: DeliveryRecord,
        correlation_id: str,
    ) -> None:
        """A channel given up on: tell the coordinators, in the same transaction."""
        for stored, event in recorded:
            if isinstance(event, NotificationFailed):
                await self.queueing.alert_unreachable(
                    conn, after, cause_id=str(stored.event_id), correlation_id=correlation_id
                )

    async def _attempt(
        self, channel: Channel, n: NotificationQueued, body: bytes, endpoint: Endpoint | None
    ) -> Sent:
        """One attempt on one channel, in its own span, counted by outcome."""
        with tracer("notify").start_as_current_span(
            f"deliver {channel}",
            kind=SpanKind.CLIENT,
            attributes={"safepath.service": "notify", "safepath.channel": channel},
        ) as span:
            sent = await self._send(channel, n, body, endpoint)
            outcome = delivery_outcome(sent.status_code, sent.error_kind)
            DELIVERIES.labels(channel, outcome).inc()
            DELIVERY_DURATION.labels(channel).observe(sent.latency_ms / 1000)
            if span.is_recording():
                span.set_attribute("safepath.outcome", outcome)
                if sent.status_code is not None:
                    span.set_attribute("http.response.status_code", sent.status_code)
                if outcome != "ok":
                    span.set_status(Status(StatusCode.ERROR, outcome))
        return sent

    async def _send(
        self, channel: Channel, n: NotificationQueued, body: bytes, endpoint: Endpoint | None
    ) -> Sent:
        if channel == "nats":
            return await self.nats.send(n.recipient_kind, n.recipient_id, n.notification_id, body)
        now = self.clock()
        if endpoint is None or not self._may_call(endpoint.url):
            return Sent(0.0, error_kind="invalid_endpoint")
        secrets = endpoint.signing_secrets(now)
        if not secrets:
            return Sent(0.0, error_kind="invalid_endpoint")
        return await self.webhook.send(endpoint.url, secrets, n.notification_id, body, now)

    def _may_call(self, url: str) -> bool:
        """The registration rules again: an endpoint stored before a rule or the allow-list
        changed is not called. (The resolved address is checked when connecting.)"""
        try:
            vet_webhook_url(
                url, environment=self.environment, allow_hosts=self.settings.allow_hosts
            )
        except UnsafeWebhookUrl:
            return False
        return True


def _resolve(w: _Waiting, outcome: tuple[DeliveryRecord, Recorded] | None) -> None:
    if not w.done.done():  # its caller may have been cancelled meanwhile
        w.done.set_result(outcome)
