"""The notify service's JetStream consumers.

- ``notify-referrals``: the referral stream (lifecycle and directory events) → queued
  notifications, through the inbox (``shared.consumer``).
- ``notify-cases``: the case stream → who the caseworker of a case is.
- ``notify-deliver-*``: the notify stream's ``NotificationQueued`` and
  ``NotificationRedeliveryRequested`` → one delivery round per message; a channel still
  pending is nak'ed with the configured backoff, so JetStream schedules the retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, PullSub
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from services.notify.app.delivery import Delivery
from services.notify.app.queueing import CASE_STREAM_EVENTS, REFERRAL_STREAM_EVENTS, Queueing
from services.notify.config import NotifySettings
from shared.consumer import Apply, IdempotentConsumer, subscribe
from shared.envelope import Envelope
from shared.logging import get_logger
from shared.runtime import Runtime

log = get_logger("safepath.notify")

DELIVERED_EVENTS = ("NotificationQueued", "NotificationRedeliveryRequested")


def _after(ready: asyncio.Event, apply: Apply) -> Apply:
    async def gated(*args: object) -> None:
        await ready.wait()  # the directory file is loaded and the streams exist
        await apply(*args)  # type: ignore[arg-type]

    return gated


def wire_inbound(rt: Runtime, queueing: Queueing, ready: asyncio.Event) -> None:
    for name, source, apply, types in (
        ("notify-referrals", "referral", queueing.on_referral_event, REFERRAL_STREAM_EVENTS),
        ("notify-cases", "case", queueing.on_case_event, CASE_STREAM_EVENTS),
    ):
        consumer = IdempotentConsumer(
            rt.pool, rt.store.schema, name, _after(ready, apply), types=types
        )
        subscribe(
            rt.broker,
            consumer,
            rt.dead_letters(name),
            stream=rt.stream_of(source),
            subject=rt.subjects_of(source),
            durable=name,
        )


def wire_delivery(
    rt: Runtime, delivery: Delivery, settings: NotifySettings, ready: asyncio.Event
) -> None:
    # Redeliveries after an ack timeout (a crashed handler) must not overtake a handler
    # still waiting for a slow receiver, so no timeout is shorter than one round can take.
    budget = settings.webhook_timeout_seconds + settings.nats_timeout_seconds + 5.0
    backoff = [max(b, budget) for b in settings.backoff_seconds]
    for name in DELIVERED_EVENTS:
        durable = f"notify-deliver-{name}"
        rt.broker.subscriber(
            f"{rt.settings.subject_root('notify')}.*.{name}",
            stream=JStream(rt.stream_of("notify"), declare=False),
            durable=durable,
            pull_sub=PullSub(batch_size=settings.delivery_workers, timeout=1.0),
            config=ConsumerConfig(
                durable_name=durable,
                max_deliver=settings.max_attempts,
                ack_wait=backoff[0],
                backoff=backoff,
                deliver_policy=DeliverPolicy.ALL,
                max_ack_pending=1000,
            ),
            ack_policy=AckPolicy.MANUAL,
            max_workers=settings.delivery_workers,
        )(_delivery_handler(delivery, settings, ready))


def _delivery_handler(
    delivery: Delivery, settings: NotifySettings, ready: asyncio.Event
) -> Callable[[NatsMessage], Awaitable[None]]:
    async def on_message(msg: NatsMessage) -> None:
        raw = msg.raw_message
        structlog.contextvars.clear_contextvars()
        try:
            env = Envelope.from_json(raw.data)
            notification_id = str(env.data["notification_id"])
        except (ValidationError, ValueError, KeyError):
            log.warning("delivery_message_malformed", subject=raw.subject)
            await msg.ack()
            return
        structlog.contextvars.bind_contextvars(
            correlation_id=env.correlationid, notification_id=notification_id
        )
        await ready.wait()
        n = raw.metadata.num_delivered
        last = n >= settings.max_attempts
        try:
            done = await delivery.deliver(
                notification_id, last_try=last, correlation_id=env.correlationid
            )
        except Exception as e:
            if last:
                log.error("delivery_abandoned", error=type(e).__name__, attempt=n)
                await msg.ack()
            else:
                log.warning("delivery_round_failed", error=type(e).__name__, attempt=n)
                await msg.nack(delay=settings.retry_delay(n))
            return
        if done:
            await msg.ack()
        else:
            await msg.nack(delay=settings.retry_delay(n))

    return on_message
