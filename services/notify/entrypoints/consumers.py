"""The notify service's JetStream consumers.

- ``notify-referrals``: the referral stream (lifecycle and directory events) → queued
  notifications, through the inbox (``shared.consumer``).
- ``notify-cases``: the case stream → who the caseworker of a case is.
- ``notify-deliver-*``: the notify stream's ``NotificationQueued`` and
  ``NotificationRedeliveryRequested`` → one delivery round per message; a channel still
  pending is nak'ed with the configured backoff, so JetStream schedules the retry. A
  message no code can handle goes to ``<namespace>.deadletter.notify-deliver-<event>``
  with its reason (as the inbox consumers do) and is acked, so it never blocks the next.

Every handler takes the typed event (``shared.messages``); ``shared.consumer``'s gate
checks the signature, then the schema, before any of them runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from faststream.nats import ConsumerConfig, JStream, PullSub
from nats.js.api import DeliverPolicy

from services.notify.app.delivery import Delivery
from services.notify.app.queueing import CASE_STREAM_EVENTS, REFERRAL_STREAM_EVENTS, Queueing
from services.notify.config import NotifySettings
from services.notify.domain.notification import Notification
from shared.consumer import (
    Apply,
    ConsumerMetrics,
    IdempotentConsumer,
    gated_subscriber,
    received_at,
)
from shared.consumer import delivery as gate_delivery
from shared.events.notify import NotificationQueued, NotificationRedeliveryRequested
from shared.jetstream import RECIPIENT_KINDS
from shared.logging import get_logger
from shared.messages import EventMessage, message_model
from shared.runtime import Runtime
from shared.tracing import consuming

log = get_logger("safepath.notify")

DELIVERED_EVENTS = (NotificationQueued, NotificationRedeliveryRequested)
DeliveredEvent = NotificationQueued | NotificationRedeliveryRequested


def _after(ready: asyncio.Event, apply: Apply) -> Apply:
    async def gated(*args: object) -> None:
        await ready.wait()  # start-up is done (webhook secrets encrypted)
        await apply(*args)  # type: ignore[arg-type]

    return gated


def wire_inbound(rt: Runtime, queueing: Queueing, ready: asyncio.Event) -> None:
    for name, source, apply, events, description in (
        (
            "notify-referrals",
            "referral",
            queueing.on_referral_event,
            REFERRAL_STREAM_EVENTS,
            "Referral events somebody must hear about become queued notifications; the"
            " directory events are notify's only source of providers and coordinators.",
        ),
        (
            "notify-cases",
            "case",
            queueing.on_case_event,
            CASE_STREAM_EVENTS,
            "Who each case's caseworker is, and the case's scope (region, office).",
        ),
    ):
        consumer = IdempotentConsumer(
            rt.pool,
            rt.store.schema,
            name,
            _after(ready, apply),
            types={e.name() for e in events},
            description=description,
        )
        rt.consume(consumer, source, events=events)


def wire_delivery(
    rt: Runtime, delivery: Delivery, settings: NotifySettings, ready: asyncio.Event
) -> None:
    for event_type, durable, subject, config in _delivery_consumers(rt, settings):
        name = event_type.name()
        model = message_model(f"{name}Delivery", [event_type])
        gated_subscriber(
            rt.broker,
            _delivery_handler(delivery, settings, ready, model, durable),
            model,
            rt.dead_letters(durable),
            verifier=rt.verifier,
            stream=rt.stream_of("notify"),
            subject=subject,
            durable=durable,
            pull_sub=PullSub(batch_size=settings.delivery_workers, timeout=1.0),
            config=config,
            inbox_prefix=rt.subscriber_inbox,
            max_workers=settings.delivery_workers,
            ignore_others=False,  # on this subject anything else is dead-lettered
            description=f"One delivery round per {name}: NATS subject and webhook.",
        )
    # What a delivery round publishes (app/channels.py, through the broker's connection):
    # declared so the AsyncAPI document shows what each recipient reads on its subject.
    stream = JStream(f"{rt.settings.namespace}_notifications".upper(), declare=False)
    for kind in RECIPIENT_KINDS:
        rt.broker.publisher(
            f"{rt.settings.namespace}.{kind}.*.notifications",
            stream=stream,
            schema=Notification,
            title=f"{kind}-notifications",
            description=(
                f"A {kind}'s notifications (subject token: its id), kept 90 days; the same"
                " CloudEvent goes to its webhook when it registered one."
            ),
        )


def _delivery_consumers(
    rt: Runtime, settings: NotifySettings
) -> list[tuple[type[DeliveredEvent], str, str, ConsumerConfig]]:
    """Per delivered event type: its durable consumer's name, subject and configuration."""
    backoff = _backoff(settings)
    out = []
    for event_type in DELIVERED_EVENTS:
        name = event_type.name()
        durable = f"notify-deliver-{name}"
        subject = f"{rt.settings.subject_root('notify')}.*.{name}"
        out.append((event_type, durable, subject, _config(durable, subject, backoff)))
    return out


def _config(durable: str, subject: str, backoff: list[float]) -> ConsumerConfig:
    """No ``max_deliver``: JetStream delivers until the round says no channel is pending.
    The record gives up on a channel after ``max_attempts`` recorded attempts
    (``NotificationFailed``, the coordinators alerted); a bound here would instead drop a
    message whose last delivery could not record its outcome (Postgres down), leaving the
    notification queued for ever, neither delivered nor given up on."""
    return ConsumerConfig(
        durable_name=durable,
        filter_subject=subject,
        max_deliver=-1,
        ack_wait=backoff[0],
        backoff=backoff,
        deliver_policy=DeliverPolicy.ALL,
        max_ack_pending=1000,
    )


async def update_delivery_consumers(rt: Runtime, settings: NotifySettings) -> None:
    """Bring existing delivery consumers to their configuration (``_config``): the
    subscriber only creates a missing one, and an existing one keeps the configuration it
    was created with (those created before 2026-11-30 stopped after ``max_attempts``
    deliveries). JetStream updates a consumer created again with the same name; two calls
    at start, the same for every replica."""
    for _, _, _, config in _delivery_consumers(rt, settings):
        await rt.js.add_consumer(rt.stream_of("notify"), config=config)


def _backoff(settings: NotifySettings) -> list[float]:
    # Redeliveries after an ack timeout (a crashed handler) must not overtake a handler
    # still waiting for a slow receiver, so no timeout is shorter than one round can take.
    budget = settings.webhook_timeout_seconds + settings.nats_timeout_seconds + 5.0
    return [max(b, budget) for b in settings.backoff_seconds]


def _delivery_handler(
    delivery: Delivery,
    settings: NotifySettings,
    ready: asyncio.Event,
    model: type[EventMessage],
    durable: str,
) -> Callable[..., Awaitable[None]]:
    observed = ConsumerMetrics(durable)

    async def on_message(message: EventMessage) -> None:
        # The delivery from the gate: a ``NatsMessage`` parameter would be resolved by
        # FastStream in its thread pool, a thread hand-off per message (docs/performance.md).
        started, msg = received_at(), gate_delivery()
        env = message.envelope
        event = message.event
        assert isinstance(event, NotificationQueued | NotificationRedeliveryRequested)
        notification_id = event.notification_id
        structlog.contextvars.bind_contextvars(notification_id=notification_id)
        await ready.wait()
        n = msg.raw_message.metadata.num_delivered
        try:
            # The delivery round continues the trace of the event that asked for it.
            with consuming("notify", observed.name, env):
                done = await delivery.deliver(notification_id, correlation_id=env.correlationid)
        except Exception as e:
            # Nothing was recorded: the message comes back and the round runs again. Never
            # acked here, however often it failed: the notification would stay queued for
            # ever, neither delivered nor given up on (the nemesis found that, seed
            # 182122: a last delivery during a Postgres crash). Past the attempts a round
            # may record, an operator should look: ERROR.
            failing = log.error if n >= settings.max_attempts else log.warning
            failing("delivery_round_failed", error=type(e).__name__, attempt=n)
            await msg.nack(delay=settings.retry_delay(n))
            observed.nacked(started)
            return
        if done:
            await msg.ack()
            observed.acked(started)
        else:
            await msg.nack(delay=settings.retry_delay(n))
            observed.nacked(started)

    on_message.__annotations__ = {"message": model, "return": None}
    return on_message
