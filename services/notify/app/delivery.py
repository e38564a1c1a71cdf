"""One delivery round of a notification: try each pending channel once and record it.

JetStream drives the retries (the consumer naks with the configured backoff), so this
never sleeps. Each attempt's events and views commit in one transaction; if the process
dies between sending and recording, the message comes back and the receiver sees the
same notification id again (receivers deduplicate on it).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import asyncpg
from opentelemetry.trace import SpanKind, Status, StatusCode

from services.notify.app.channels import NatsChannel, Sent, WebhookChannel, body_of
from services.notify.app.queueing import Queueing
from services.notify.app.records import Records
from services.notify.app.webhooks import Webhooks
from services.notify.config import NotifySettings
from services.notify.domain.delivery import ChannelSettled, DeliveryRecord, RecordAttempt
from services.notify.domain.webhook_url import UnsafeWebhookUrl, vet_webhook_url
from shared.events.notify import Channel, NotificationFailed, NotificationQueued
from shared.logging import get_logger
from shared.metrics import (
    DELIVERIES,
    DELIVERY_DURATION,
    NOTIFICATIONS_FAILED,
    delivery_outcome,
)
from shared.tracing import tracer

log = get_logger("safepath.notify")


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
            stored = await self.records.store.read_stream(notification_id, conn=conn)
        if not stored:
            log.warning("notification_unknown", notification_id=notification_id)
            return True
        queued = self.records.store.load(stored[0])
        assert isinstance(queued, NotificationQueued)
        record = await self._state(notification_id)
        body = body_of(queued.notification)
        for channel in queued.channels:
            if not record.needs_delivery(channel):
                continue
            sent = await self._attempt(channel, queued, body)
            await self._record(queued, channel, sent, last_try, correlation_id)
        return (await self._state(notification_id)).status != "queued"

    async def _state(self, notification_id: str) -> DeliveryRecord:
        async with self.pool.acquire() as conn:
            return await self.records.current(conn, notification_id)

    async def _attempt(self, channel: Channel, n: NotificationQueued, body: bytes) -> Sent:
        """One attempt on one channel, in its own span, counted by outcome."""
        with tracer("notify").start_as_current_span(
            f"deliver {channel}",
            kind=SpanKind.CLIENT,
            attributes={"safepath.service": "notify", "safepath.channel": channel},
        ) as span:
            sent = await self._send(channel, n, body)
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

    async def _send(self, channel: Channel, n: NotificationQueued, body: bytes) -> Sent:
        if channel == "nats":
            return await self.nats.send(n.recipient_kind, n.recipient_id, n.notification_id, body)
        async with self.pool.acquire() as conn:
            endpoint = await self.webhooks.get(conn, n.recipient_id)
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

    async def _record(
        self,
        n: NotificationQueued,
        channel: Channel,
        sent: Sent,
        last_try: bool,
        correlation_id: str,
    ) -> None:
        command = RecordAttempt(
            notification_id=n.notification_id,
            channel=channel,
            latency_ms=sent.latency_ms,
            max_attempts=1 if last_try else self.settings.max_attempts,
            status_code=sent.status_code,
            error_kind=sent.error_kind,
        )
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                recorded = await self.records.record(
                    conn, n.notification_id, command, self.clock(), correlation_id=correlation_id
                )
            except ChannelSettled:
                return  # a concurrent handler settled it first
            for stored, event in recorded:
                if isinstance(event, NotificationFailed):
                    NOTIFICATIONS_FAILED.labels(n.recipient_kind).inc()
                    record = await self.records.current(conn, n.notification_id)
                    await self.queueing.alert_unreachable(
                        conn, record, cause_id=str(stored.event_id), correlation_id=correlation_id
                    )
        log.info(
            "delivery_attempted",
            notification_id=n.notification_id,
            channel=channel,
            status_code=sent.status_code,
            error_kind=sent.error_kind,
            latency_ms=sent.latency_ms,
            outcome=[type(e).__name__ for _, e in recorded],
        )
