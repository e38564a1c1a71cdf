"""Idempotent consumers (the inbox) for events arriving over JetStream.

``IdempotentConsumer.handle`` commits the handler's writes and an ``inbox`` row
``(consumer, event_id)`` in one transaction. A redelivered event finds its row and
changes nothing. Malformed messages (not JSON, not a CloudEvent, unknown type, schema
violation) go to the dead-letter subject with the reason, and are acked, so one poison
message never blocks the next. ``subscribe`` wires it to a FastStream durable pull
consumer with explicit acks and a typed handler (``shared.messages``): the signature is
checked first, then the schema; ack after commit, nak (redeliver later) when the handler
fails, dead-letter after the last attempt.
"""

from __future__ import annotations

import enum
import hashlib
import re
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, get_args

import asyncpg
import structlog
from faststream import AckPolicy, BaseMiddleware, StreamMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, NatsRouter, PullSub
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from shared import metrics
from shared.envelope import Envelope
from shared.events.base import Event
from shared.events.registry import Registry, UnknownEventType
from shared.events.registry import registry as default_registry
from shared.logging import get_logger
from shared.messages import EventMessage, message_model, received
from shared.migrations import quote_ident
from shared.signatures import BadSignature, EventVerifier
from shared.tracing import consuming

log = get_logger("safepath.consumer")

Apply = Callable[[asyncpg.Connection, Envelope, Event], Awaitable[None]]


class Outcome(enum.StrEnum):
    HANDLED = "handled"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    DEAD_LETTERED = "dead_lettered"


class Malformed(ValueError):
    """A message no code can handle; its reason is safe to log (no payload inside)."""


class DeadLetters:
    """Publishes messages that cannot be handled to ``<namespace>.deadletter.<consumer>``."""

    def __init__(self, js: JetStreamContext, subject: str) -> None:
        self.js = js
        self.subject = subject

    async def send(self, raw: bytes, reason: str, origin: str, msg_key: str) -> None:
        await self.js.publish(
            self.subject,
            raw,
            headers={
                # Stable per original delivery, so re-sending after a crash is deduplicated.
                "Nats-Msg-Id": "dl-"
                + hashlib.sha256(f"{self.subject}|{msg_key}".encode()).hexdigest()[:32],
                "Safepath-Dead-Letter-Reason": reason[:500],
                "Safepath-Original-Subject": origin,
            },
        )


def parse_message(raw: bytes, registry: Registry) -> tuple[Envelope, Event]:
    """Envelope and event of a raw message; ``Malformed`` with a safe reason otherwise."""
    try:
        env = Envelope.from_json(raw)
    except ValidationError as e:
        fields = ",".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
        raise Malformed(f"not a valid CloudEvent: {fields}") from None
    except (ValueError, UnicodeDecodeError):
        raise Malformed("not JSON") from None
    try:
        event = registry.load(env.type, env.data)
    except UnknownEventType:
        raise Malformed(f"unknown event type {env.type[:200]}") from None
    except ValidationError as e:
        fields = ",".join(".".join(str(p) for p in err["loc"]) for err in e.errors())
        raise Malformed(f"{env.type} violates its schema at: {fields}") from None
    return env, event


class IdempotentConsumer:
    """Applies each event at most once per consumer name, in one transaction with its effects."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        name: str,
        apply: Apply,
        *,
        types: Collection[str] | None = None,
        registry: Registry = default_registry,
        description: str | None = None,
    ) -> None:
        self.pool = pool
        self.name = name
        self.apply = apply
        self.types = set(types) if types is not None else None  # event names to handle
        self.registry = registry
        self.description = description
        self.service = schema  # each service's store lives in the schema of its name
        self._inbox_sql = (
            f"INSERT INTO {quote_ident(schema)}.inbox (consumer, event_id) VALUES ($1, $2::uuid)"
            " ON CONFLICT DO NOTHING RETURNING 1"
        )

    def events(self, source: str | None = None) -> list[type[Event]]:
        """The event models this consumer handles, of ``source``'s events when given (every
        registered one without ``types``)."""
        models = self.registry.models(source)
        return [m for m in models if self.types is None or m.name() in self.types]

    async def handle(self, env: Envelope, event: Event) -> Outcome:
        if self.types is not None and env.event_name not in self.types:
            return Outcome.IGNORED
        async with self.pool.acquire() as conn, conn.transaction():
            # A concurrent duplicate blocks here on the primary key until the first commits.
            if await conn.fetchval(self._inbox_sql, self.name, env.id) is None:
                return Outcome.DUPLICATE
            await self.apply(conn, env, event)
        return Outcome.HANDLED


def dead_letter_cause(e: Malformed) -> str:
    """The metric label of a ``Malformed`` message: unauthentic or malformed."""
    return "unauthentic" if str(e).startswith("not authentic") else "malformed"


class ConsumerMetrics:
    """The ``safepath_consumer_*`` counters of one consumer (``shared/metrics.py``)."""

    def __init__(self, name: str) -> None:
        name = metrics.label(name)
        self.name = name
        self._received = metrics.CONSUMER_RECEIVED.labels(name)
        self._redelivered = metrics.CONSUMER_REDELIVERED.labels(name)
        self._acked = metrics.CONSUMER_ACKED.labels(name)
        self._nacked = metrics.CONSUMER_NACKED.labels(name)
        self._duration = metrics.CONSUMER_DURATION.labels(name)

    def received(self, num_delivered: int) -> float:
        """Count a delivery; the time it started (pass it to the outcome)."""
        self._received.inc()
        if num_delivered > 1:
            self._redelivered.inc()
        return time.perf_counter()

    def _done(self, started: float) -> None:
        self._duration.observe(time.perf_counter() - started)

    def acked(self, started: float) -> None:
        self._acked.inc()
        self._done(started)

    def nacked(self, started: float) -> None:
        self._nacked.inc()
        self._done(started)

    def dead_lettered(self, started: float, cause: str, *, acked: bool = True) -> None:
        metrics.CONSUMER_DEAD_LETTERS.labels(self.name, cause).inc()
        if acked:
            self._acked.inc()
        self._done(started)


def check_origin(verifier: EventVerifier, raw: bytes, subject: str, stream: str) -> None:
    """``Malformed`` unless the event is signed by the service whose subject it came on."""
    try:
        verifier.verify(raw, subject=subject, stream=stream)
    except BadSignature as e:
        raise Malformed(f"not authentic: {e}") from None


def subscribe(
    broker: NatsBroker,
    consumer: IdempotentConsumer,
    dead_letters: DeadLetters,
    *,
    verifier: EventVerifier,
    inbox_prefix: bytes = b"_INBOX.",
    stream: str,
    subject: str,
    durable: str,
    max_deliver: int = 8,
    redeliver_after: float = 1.0,
    events: Sequence[type[Event]] | None = None,
    description: str | None = None,
) -> None:
    """Register ``consumer`` as a durable pull subscriber with explicit acks on ``broker``.

    Its handler takes the typed message of ``events`` (by default the consumer's types
    among the events of the service whose subjects it reads, ``<namespace>.<service>.>``);
    ``gated_subscriber`` checks the signature and the schema first. Messages are fetched
    one at a time so events of a stream are applied in order. A handler failure is
    redelivered (nak with a growing delay), and dead-lettered after ``max_deliver``.
    """
    source = subject.split(".")[1] if subject.count(".") >= 2 else None
    model = message_model(_model_name(durable), events or consumer.events(source))
    observed = ConsumerMetrics(durable)

    async def on_event(message: EventMessage, msg: NatsMessage) -> None:
        meta = msg.raw_message.metadata
        started = received_at()
        try:
            # A child of the event's trace: what the handler appends carries the trace on.
            with consuming(consumer.service, consumer.name, message.envelope):
                outcome = await consumer.handle(message.envelope, message.event)
        except Exception as e:
            if meta.num_delivered >= max_deliver:
                reason = f"handler failed {meta.num_delivered} times: {type(e).__name__}"
                key = f"{meta.stream}:{meta.sequence.stream}"
                await dead_letters.send(msg.body, reason, msg.raw_message.subject, key)
                log.error("message_dead_lettered", consumer=consumer.name, reason=reason)
                await msg.ack()
                observed.dead_lettered(started, "retries_exhausted")
            else:
                log.warning(
                    "handler_failed_will_retry",
                    consumer=consumer.name,
                    error=type(e).__name__,
                    attempt=meta.num_delivered,
                )
                await msg.nack(delay=redeliver_after * meta.num_delivered)
                observed.nacked(started)
            return
        await msg.ack()
        observed.acked(started)
        log.debug("message_handled", consumer=consumer.name, outcome=outcome.value)

    on_event.__annotations__ = {"message": model, "msg": NatsMessage, "return": None}
    gated_subscriber(
        broker,
        on_event,
        model,
        dead_letters,
        verifier=verifier,
        registry=consumer.registry,
        stream=stream,
        subject=subject,
        durable=durable,
        pull_sub=PullSub(batch_size=1, timeout=1.0),
        config=ConsumerConfig(
            durable_name=durable,
            max_deliver=max_deliver,
            ack_wait=30.0,
            deliver_policy=DeliverPolicy.ALL,
        ),
        inbox_prefix=inbox_prefix,
        description=description or consumer.description,
    )


def gated_subscriber(
    broker: NatsBroker,
    handler: Callable[..., Awaitable[None]],
    model: type[EventMessage],
    dead_letters: DeadLetters,
    *,
    verifier: EventVerifier,
    registry: Registry = default_registry,
    stream: str,
    subject: str,
    durable: str,
    pull_sub: PullSub,
    config: ConsumerConfig,
    inbox_prefix: bytes,
    max_workers: int | None = None,
    ignore_others: bool = True,
    description: str | None = None,
) -> None:
    """A durable pull subscriber (manual acks) whose ``handler`` takes ``model``.

    Before the handler, in this order (``EventGate``): the signature of the service whose
    subject the message came on (``check_origin``), then the envelope and the event's
    schema through ``registry`` (upcasting old versions). What fails either goes to
    ``dead_letters`` with its reason and is acked. An authentic event of a type ``model``
    does not name is acked unread (``ignore_others``) or dead-lettered. The handler acks.
    """
    accepted = _data_types(model)

    async def decode(msg: StreamMessage[Any]) -> EventMessage:
        env, event = parse_message(msg.body, registry)
        return received(model, env, event)

    router = NatsRouter(
        middlewares=(
            _gate(
                EventGate.Policy(
                    verifier,
                    dead_letters,
                    accepted,
                    ignore_others,
                    durable,
                    ConsumerMetrics(durable),
                )
            ),
        )
    )
    options: dict[str, Any] = {} if max_workers is None else {"max_workers": max_workers}
    router.subscriber(
        subject,
        stream=JStream(stream, declare=False),
        durable=durable,
        pull_sub=pull_sub,
        config=config,
        ack_policy=AckPolicy.MANUAL,
        inbox_prefix=inbox_prefix,  # the identity may read replies under its own prefix only
        decoder=decode,
        no_reply=True,  # a handler's return value is never published (a reply_to header)
        title=durable,
        description=description,
        **options,
    )(handler)
    broker.include_router(router)


class EventGate(BaseMiddleware):
    """What every message passes before a subscriber's handler (see ``gated_subscriber``)."""

    @dataclass(frozen=True)
    class Policy:
        verifier: EventVerifier
        dead_letters: DeadLetters
        accepted: tuple[type[Event], ...]
        ignore_others: bool
        consumer: str
        observed: ConsumerMetrics

    policy: ClassVar[Policy]

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        p = self.policy
        raw = msg.raw_message
        structlog.contextvars.clear_contextvars()
        started = p.observed.received(raw.metadata.num_delivered)
        _received_at.set(started)
        try:
            check_origin(p.verifier, raw.data, raw.subject, raw.metadata.stream)  # first
            message = await msg.decode()
            assert isinstance(message, EventMessage)
            event = message.event
            if not isinstance(event, p.accepted) and not p.ignore_others:
                raise Malformed(f"{message.type[:200]} is not handled by {p.consumer}")
        except Malformed as e:
            meta = raw.metadata
            key = f"{meta.stream}:{meta.sequence.stream}"
            await p.dead_letters.send(raw.data, str(e), raw.subject, key)
            log.warning("message_dead_lettered", consumer=p.consumer, reason=str(e))
            await msg.ack()
            p.observed.dead_lettered(started, dead_letter_cause(e))
            return None
        structlog.contextvars.bind_contextvars(
            correlation_id=message.correlationid, event_id=message.id, event_type=event.name()
        )
        if not isinstance(event, p.accepted):
            await msg.ack()
            p.observed.acked(started)
            log.debug("message_handled", consumer=p.consumer, outcome=Outcome.IGNORED.value)
            return None
        return await call_next(msg)


_received_at: ContextVar[float] = ContextVar("safepath_message_received_at")


def received_at() -> float:
    """When the gate received the message being handled (``time.perf_counter()``), for
    the handler's ``ConsumerMetrics`` outcome."""
    return _received_at.get()


def _gate(policy: EventGate.Policy) -> type[EventGate]:
    return type("EventGate", (EventGate,), {"policy": policy})


def _data_types(model: type[EventMessage]) -> tuple[type[Event], ...]:
    annotation = model.model_fields["data"].annotation
    found = get_args(annotation) or (annotation,)
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, Event))


def _model_name(durable: str) -> str:
    """``notify-referrals`` → ``NotifyReferralsMessage``."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", durable)) + "Message"
