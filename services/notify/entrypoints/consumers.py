"""The notify service's JetStream consumers.

- ``notify-referrals``: the referral stream (lifecycle and directory events) → queued
  notifications, through the inbox (``shared.consumer``).
- ``notify-cases``: the case stream → who the caseworker of a case is.
- ``notify-deliver-*``: the notify stream's ``NotificationQueued`` and
  ``NotificationRedeliveryRequested`` → one delivery round per message; a channel still
  pending is nak'ed with the configured backoff, so JetStream schedules the retry. A
  message no code can handle goes to ``<namespace>.deadletter.notify-deliver-<event>``
  with its reason (as the inbox consumers do) and is acked, so it never blocks the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, PullSub
from nats.js.api import DeliverPolicy

from services.notify.app.delivery import Delivery
from services.notify.app.queueing import CASE_STREAM_EVENTS, REFERRAL_STREAM_EVENTS, Queueing
from services.notify.config import NotifySettings
from shared.consumer import (
    Apply,
    ConsumerMetrics,
    DeadLetters,
    IdempotentConsumer,
    Malformed,
    check_origin,
    dead_letter_cause,
    parse_message,
    subscribe,
)
from shared.events.notify import NotificationQueued, NotificationRedeliveryRequested
from shared.events.registry import registry
from shared.logging import get_logger
from shared.runtime import Runtime
from shared.signatures import EventVerifier
from shared.tracing import consuming

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
            verifier=rt.verifier,
            inbox_prefix=rt.subscriber_inbox,
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
            inbox_prefix=rt.subscriber_inbox,
        )(
            _delivery_handler(
                delivery, settings, ready, rt.dead_letters(durable), rt.verifier, durable
            )
        )


def _delivery_handler(
    delivery: Delivery,
    settings: NotifySettings,
    ready: asyncio.Event,
    dead_letters: DeadLetters,
    verifier: EventVerifier,
    durable: str,
) -> Callable[[NatsMessage], Awaitable[None]]:
    observed = ConsumerMetrics(durable)

    async def on_message(msg: NatsMessage) -> None:
        raw = msg.raw_message
        structlog.contextvars.clear_contextvars()
        started = observed.received(raw.metadata.num_delivered)
        try:
            check_origin(verifier, raw.data, raw.subject, raw.metadata.stream)
            env, event = parse_message(raw.data, registry)
            if not isinstance(event, NotificationQueued | NotificationRedeliveryRequested):
                raise Malformed(f"{env.type[:200]} is not a delivery request")
            notification_id = event.notification_id
        except Malformed as e:
            meta = raw.metadata
            key = f"{meta.stream}:{meta.sequence.stream}"
            await dead_letters.send(raw.data, str(e), raw.subject, key)
            log.warning("message_dead_lettered", consumer=dead_letters.subject, reason=str(e))
            await msg.ack()
            observed.dead_lettered(started, dead_letter_cause(e))
            return
        structlog.contextvars.bind_contextvars(
            correlation_id=env.correlationid, notification_id=notification_id
        )
        await ready.wait()
        n = raw.metadata.num_delivered
        last = n >= settings.max_attempts
        try:
            # The delivery round continues the trace of the event that asked for it.
            with consuming("notify", observed.name, env):
                done = await delivery.deliver(
                    notification_id, last_try=last, correlation_id=env.correlationid
                )
        except Exception as e:
            if last:
                log.error("delivery_abandoned", error=type(e).__name__, attempt=n)
                await msg.ack()
                observed.dead_lettered(started, "abandoned")
            else:
                log.warning("delivery_round_failed", error=type(e).__name__, attempt=n)
                await msg.nack(delay=settings.retry_delay(n))
                observed.nacked(started)
            return
        if done:
            await msg.ack()
            observed.acked(started)
        else:
            await msg.nack(delay=settings.retry_delay(n))
            observed.nacked(started)

    return on_message
