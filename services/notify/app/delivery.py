"""One delivery round of a notification: try each pending channel once and record it.

A round reads the record once (folded, with the webhook endpoint when it is due), sends
on every pending channel with no connection held and no transaction open, then records
every channel's outcome in one transaction with one append at the version it read. If
another round appended first, it reads again and decides again; an outcome for a channel
already settled is dropped, and a settled channel is never tried again.

JetStream drives the retries (the consumer naks with the configured backoff), so this
never sleeps. If the process dies between sending and recording, the message comes back
and the receiver sees the same notification id again (receivers deduplicate on it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.notify.app.channels import NatsChannel, Sent, WebhookChannel, body_of
from services.notify.app.queueing import Queueing
from services.notify.app.records import Records, Snapshot
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

# Appends one round may lose to concurrent rounds of the same notification before it
# gives up (the consumer naks; the next round reads afresh).
_RACES = 5


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
    ) -> None:
        self.pool = pool
        self.records = records
        self.queueing = queueing
        self.webhooks = webhooks
        self.nats = nats
        self.webhook = webhook
        self.settings = settings
        self.environment = environment
        self.clock = clock

    async def deliver(self, notification_id: str, *, last_try: bool, correlation_id: str) -> bool:
        """Try every pending channel once; True when no channel is pending any more.

        ``last_try``: JetStream will not deliver again, so a retryable failure now
        dead-letters the channel.
        """
        async with self.pool.acquire() as conn:
            snapshot = await self.records.read(conn, notification_id)
            queued = snapshot.queued
            if queued is None:
                log.warning("notification_unknown", notification_id=notification_id)
                return True
            pending = [c for c in queued.channels if snapshot.state.needs_delivery(c)]
            endpoint = (
                await self.webhooks.get(conn, queued.recipient_id) if "webhook" in pending else None
            )
        if not pending:
            return snapshot.state.status != "queued"
        # No connection is held while sending: a slow webhook ties up no pool slot.
        body = body_of(queued.notification)
        sent = await asyncio.gather(*(self._attempt(c, queued, body, endpoint) for c in pending))
        max_attempts = 1 if last_try else self.settings.max_attempts
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
        for channel, s in zip(pending, sent, strict=True):
            log.info(
                "delivery_attempted",
                notification_id=notification_id,
                channel=channel,
                status_code=s.status_code,
                error_kind=s.error_kind,
                latency_ms=s.latency_ms,
                outcome=[
                    type(e).__name__ for _, e in recorded if getattr(e, "channel", None) == channel
                ],
            )
        return after.status != "queued"

    async def _record(
        self,
        snapshot: Snapshot,
        queued: NotificationQueued,
        attempts: list[RecordAttempt],
        correlation_id: str,
    ) -> tuple[DeliveryRecord, list[tuple[StoredEvent, DeliveryEvent]]]:
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
                for _, event in recorded:
                    if isinstance(event, NotificationFailed):
                        NOTIFICATIONS_FAILED.labels(queued.recipient_kind).inc()
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
