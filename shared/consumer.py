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

import asyncio
import contextlib
import enum
import hashlib
import re
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterator, Sequence
from contextvars import Context, ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, cast, get_args

import asyncpg
import structlog
from faststream import AckPolicy, BaseMiddleware, StreamMessage
from faststream.nats import ConsumerConfig, JStream, NatsBroker, NatsMessage, NatsRouter, PullSub
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from pydantic import ValidationError

from shared import metrics, prompt_fetch
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


class OutOfOrder(Exception):
    """An event came before an earlier event of its stream: it must wait for it."""

    def __init__(self, expected: int, got: int) -> None:
        super().__init__(f"waits for version {expected}, got {got}")
        self.expected = expected
        self.got = got


class PositionMoved(Exception):
    """Another transaction moved a stream position that a batch read: the batch is
    rolled back and applied one by one."""


class IdempotentConsumer:
    """Applies the events of each stream once and in version order, in one transaction
    with its effects.

    Its position in every source stream (``inbox_stream``) moves from v - 1 to v in the
    transaction that applies event v: a second delivery of v finds the position at v and
    changes nothing (``DUPLICATE``); an event that comes before an earlier one of its
    stream raises ``OutOfOrder`` and changes nothing, to be delivered again later. Events
    of types it does not handle move the position too (``IGNORED``), so the versions it
    waits for have no holes.
    """

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
        q = quote_ident(schema)
        # The first event of a stream starts its position; every later one moves it by one.
        # A concurrent second delivery blocks on the row until the first commits, then
        # finds the position moved and claims nothing. An event applied ($5 = its id) is
        # noted in the inbox by the same statement, only if the position moved (one round
        # trip per event instead of two).
        noted = (
            f", noted AS (INSERT INTO {q}.inbox (consumer, event_id)"
            " SELECT $1, $5::uuid FROM moved WHERE $5::uuid IS NOT NULL ON CONFLICT DO NOTHING)"
            " SELECT 1 FROM moved"
        )
        self._claim_first = (
            f"WITH moved AS (INSERT INTO {q}.inbox_stream (consumer, source, stream_id, version)"
            " VALUES ($1, $2, $3, $4::int) ON CONFLICT DO NOTHING RETURNING 1)" + noted
        )
        self._claim_next = (
            f"WITH moved AS (UPDATE {q}.inbox_stream SET version = $4, updated_at = now()"
            " WHERE consumer = $1 AND source = $2 AND stream_id = $3 AND version = $4 - 1"
            " RETURNING 1)" + noted
        )
        self._position = (
            f"SELECT version FROM {q}.inbox_stream"
            " WHERE consumer = $1 AND source = $2 AND stream_id = $3"
        )
        # A batch reads the positions of its streams, then moves all it claims in one
        # statement, its first write: a stream whose position moved meanwhile (another
        # replica) is not in what it returns, and the batch is then applied one by one.
        # Being one statement, it takes the transaction id after every transaction whose
        # events it follows has committed, as one event per transaction did.
        self._positions = (
            f"SELECT source, stream_id, version FROM {q}.inbox_stream"
            " WHERE consumer = $1 AND (source, stream_id) IN"
            " (SELECT * FROM unnest($2::text[], $3::text[]))"
        )
        self._claim_many = (
            f"WITH claim AS (SELECT * FROM unnest($2::text[], $3::text[], $4::int[], $5::int[])"
            " AS c (source, stream_id, was, now)),"
            f" fresh AS (INSERT INTO {q}.inbox_stream (consumer, source, stream_id, version)"
            " SELECT $1, source, stream_id, now FROM claim WHERE was = 0"
            " ON CONFLICT DO NOTHING RETURNING 1),"
            f" moved AS (UPDATE {q}.inbox_stream s SET version = c.now, updated_at = now()"
            " FROM claim c WHERE c.was > 0 AND s.consumer = $1 AND s.source = c.source"
            " AND s.stream_id = c.stream_id AND s.version = c.was RETURNING 1),"
            # The events the batch applies ($6), noted in the same statement: were a
            # position found moved, the caller raises and the transaction rolls them back.
            f" noted AS (INSERT INTO {q}.inbox (consumer, event_id)"
            " SELECT $1, unnest($6::uuid[]) ON CONFLICT DO NOTHING)"
            " SELECT (SELECT count(*) FROM fresh) + (SELECT count(*) FROM moved)"
        )
        self._failed = (
            f"INSERT INTO {q}.inbox_failure (consumer, event_id, attempts, last_error)"
            " VALUES ($1, $2::uuid, 1, $3) ON CONFLICT (consumer, event_id) DO UPDATE"
            " SET attempts = inbox_failure.attempts + 1, last_error = EXCLUDED.last_error,"
            " updated_at = now() RETURNING attempts"
        )

    def events(self, source: str | None = None) -> list[type[Event]]:
        """The event models this consumer handles, of ``source``'s events when given (every
        registered one without ``types``)."""
        models = self.registry.models(source)
        return [m for m in models if self.types is None or m.name() in self.types]

    def handles(self, env: Envelope) -> bool:
        return self.types is None or env.event_name in self.types

    @contextlib.contextmanager
    def handling(self, env: Envelope) -> Iterator[None]:
        """The span of handling ``env`` (a child of the event's trace: what the handler
        appends carries the trace on) and its fields on every log line meanwhile."""
        with (
            consuming(self.service, self.name, env),
            structlog.contextvars.bound_contextvars(
                correlation_id=env.correlationid, event_id=env.id, event_type=env.event_name
            ),
        ):
            yield

    async def _claim(self, conn: asyncpg.Connection, env: Envelope, *, applying: bool) -> bool:
        """Move the position in ``env``'s stream to its version, noting ``env`` in the inbox
        when ``applying``: True when it moved, False when the event was applied or passed
        over before; ``OutOfOrder`` when an earlier event of the stream has not been yet."""
        key = (self.name, env.service, env.subject)
        v = env.streamversion
        sql = self._claim_first if v == 1 else self._claim_next
        moved = await conn.fetchval(sql, *key, v, env.id if applying else None)
        if moved is not None:
            return True
        at = await conn.fetchval(self._position, *key) or 0
        if at >= v:
            return False
        raise OutOfOrder(at + 1, v)

    async def handle(self, env: Envelope, event: Event | None) -> Outcome:
        """Apply ``event`` (``None``: an event of a type this consumer does not read, or
        one it gave up on) in its stream's order."""
        async with self.pool.acquire() as conn:
            if event is None or not self.handles(env):
                moved = await self._claim(conn, env, applying=False)
                return Outcome.IGNORED if moved else Outcome.DUPLICATE
            async with conn.transaction():
                if not await self._claim(conn, env, applying=True):
                    return Outcome.DUPLICATE
                await self.apply(conn, env, event)
        return Outcome.HANDLED

    async def handle_batch(
        self, batch: Sequence[tuple[Envelope, Event | None]]
    ) -> list[Outcome | OutOfOrder]:
        """Apply ``batch`` in its order in one transaction, each event as ``handle`` would:
        the positions of its streams read at once and moved in one statement, the inbox
        rows of those applied in one insert, one commit. An event that comes before an
        earlier one of its stream changes nothing and is returned as its ``OutOfOrder``.
        Any other error rolls the whole batch back and is raised (``PositionMoved`` when
        another replica moved a position meanwhile); the caller then applies its events
        one by one (``InOrder``)."""
        if len(batch) == 1:  # as one event per transaction: fewer statements
            env, event = batch[0]
            try:
                with self.handling(env):
                    return [await self.handle(env, event)]
            except OutOfOrder as e:
                return [e]
        keys = list(dict.fromkeys((env.service, env.subject) for env, _ in batch))
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                self._positions, self.name, [k[0] for k in keys], [k[1] for k in keys]
            )
            was = {(r["source"], r["stream_id"]): int(r["version"]) for r in rows}
            at = dict(was)
            out: list[Outcome | OutOfOrder] = []
            for env, event in batch:
                key = (env.service, env.subject)
                v, pos = env.streamversion, at.get(key, 0)
                if v <= pos:
                    out.append(Outcome.DUPLICATE)
                elif v > pos + 1:
                    out.append(OutOfOrder(pos + 1, v))
                else:
                    at[key] = v
                    handled = event is not None and self.handles(env)
                    out.append(Outcome.HANDLED if handled else Outcome.IGNORED)
            claimed = [k for k in keys if at.get(k, 0) != was.get(k, 0)]
            if not claimed:
                return out
            each = zip(batch, out, strict=True)
            applied = [env.id for (env, _), o in each if o is Outcome.HANDLED]
            claim = (
                self.name,
                [k[0] for k in claimed],
                [k[1] for k in claimed],
                [was.get(k, 0) for k in claimed],
                [at[k] for k in claimed],
                applied,
            )
            if not applied:  # positions only: one statement, no transaction
                await self._claim_all(conn, claim)
                return out
            async with conn.transaction():
                await self._claim_all(conn, claim)
                for (env, event), outcome in zip(batch, out, strict=True):
                    if outcome is Outcome.HANDLED:
                        assert event is not None
                        with self.handling(env):
                            await self.apply(conn, env, event)
        return out

    async def _claim_all(self, conn: asyncpg.Connection, claim: tuple[Any, ...]) -> None:
        moved = await conn.fetchval(self._claim_many, *claim)
        if moved != len(claim[1]):
            raise PositionMoved(f"{len(claim[1]) - moved} of {len(claim[1])} positions moved")

    async def pass_over(self, env: Envelope) -> Outcome:
        """Move past ``env`` without applying it (it was dead-lettered)."""
        return await self.handle(env, None)

    async def failed(self, env: Envelope, error: BaseException) -> int:
        """Count a handler failure of ``env``; the attempts so far, across replicas."""
        attempts = await self.pool.fetchval(self._failed, self.name, env.id, type(error).__name__)
        return int(attempts)


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


# How long JetStream waits for an ack before it hands a message to another replica: what
# a kill -9 costs the events behind it. Handlers that run longer say so every third of
# it (``in_progress``), so a slow handler is not redelivered while it still runs.
ACK_WAIT_SECONDS = 5.0
# An event whose predecessor has not been applied is handed back to JetStream at once
# (never held: a consumer settles the whole batch it fetched before fetching more, and
# holding one would stall every other stream behind it) and comes back after a delay
# that starts short (the earlier event is usually a moment away, on another replica) and
# grows to GAP_RETRY_SECONDS.
GAP_FIRST_RETRY_SECONDS = 0.05
GAP_RETRY_SECONDS = 2.0
# How many messages a consumer fetches at once. The gate checks each (signature, type,
# schema) in a task of its own; those that reach ``InOrder`` together, at most this many,
# are applied in one transaction (``IdempotentConsumer.handle_batch``).
BATCH_SIZE = 16
# How long a batch waits for the rest of its fetch to pass the gates, at most.
GATHER_SECONDS = 0.02
# Waiting this many times for one earlier event is worth a WARNING (then every so often):
# the earlier event may be missing from its stream, which no retry can fix.
GAP_WARN_AFTER = 30


@dataclass
class _Pending:
    """A delivery waiting for the batch it goes in (``InOrder``)."""

    env: Envelope
    event: Event | None
    sequence: int  # on the JetStream stream
    done: asyncio.Future[Outcome]


class InOrder:
    """Settles each delivery for an ``IdempotentConsumer``: ack once applied (or applied
    before), wait when it came before an earlier event of its stream, retry a failed
    handler, dead-letter after ``max_deliver`` failures and then move past it.

    With ``batched``, the deliveries that arrive together (a fetched batch, each through
    its gate in a task of its own) are applied in one transaction, in the order of the
    JetStream stream (a stream's events by version), and each is then acked, or handed
    back when it came before an earlier event of its stream. When the batch fails (a
    handler raised, a lock timed out, Postgres went away) it is rolled back whole and its
    events applied one by one, each in a transaction of its own, so one failing event
    changes nothing for the others and is retried and dead-lettered as it would be alone.
    """

    def __init__(
        self,
        consumer: IdempotentConsumer,
        dead_letters: DeadLetters,
        observed: ConsumerMetrics,
        *,
        max_deliver: int,
        redeliver_after: float,
        ack_wait: float,
        batched: bool = False,
    ) -> None:
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.observed = observed
        self.max_deliver = max_deliver
        self.redeliver_after = redeliver_after
        self.ack_wait = ack_wait
        self.batched = batched
        self._pending: list[_Pending] = []
        self._applier: asyncio.Task[None] | None = None
        self._in_gates: set[int] = set()  # deliveries between the gate and their batch
        self._all_in: asyncio.Event | None = None

    def entered(self, msg: StreamMessage[Any]) -> None:
        """``msg`` passes its gate: the batch being gathered waits for it."""
        if self.batched:
            self._in_gates.add(id(msg.raw_message))

    def left(self, msg: StreamMessage[Any]) -> None:
        """``msg`` joined a batch, or was settled otherwise."""
        self._in_gates.discard(id(msg.raw_message))
        if not self._in_gates and self._all_in is not None:
            self._all_in.set()

    async def settle(
        self, msg: NatsMessage, env: Envelope, event: Event | None, started: float
    ) -> None:
        """Apply ``event`` (``None``: pass over an event this consumer does not read)."""
        c = self.consumer
        try:
            async with _heartbeat(msg, self.ack_wait / 3):
                if self.batched:
                    outcome = await self._in_batch(msg, env, event)
                else:
                    with c.handling(env):
                        outcome = await self._in_order(env, event)
        except OutOfOrder as e:
            await self._wait(msg, e, started)
            return
        except Exception as e:
            await self._failed(msg, env, e, started)
            return
        await msg.ack()
        self.observed.acked(started)
        log.debug("message_handled", consumer=c.name, outcome=outcome.value)

    async def _in_order(self, env: Envelope, event: Event | None) -> Outcome:
        return await self.consumer.handle(env, event)

    def _in_batch(
        self, msg: NatsMessage, env: Envelope, event: Event | None
    ) -> asyncio.Future[Outcome]:
        """The outcome of ``env`` once the batch it joins is applied (``OutOfOrder`` or the
        handler's error raised from it as from ``handle``)."""
        done: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        sequence = msg.raw_message.metadata.sequence.stream
        self._pending.append(_Pending(env, event, sequence, done))
        self.left(msg)
        if self._applier is None:
            # A context of its own: the handlers' log lines and spans are bound per event
            # (``IdempotentConsumer.handling``), not to the delivery that started it.
            self._applier = asyncio.create_task(self._apply_batches(), context=Context())
        return done

    async def _apply_batches(self) -> None:
        batch: list[_Pending] = []
        try:
            while True:
                await self._gather()
                batch, self._pending = self._pending, []
                if not batch:
                    return
                await self._apply(_stream_order(batch))
        finally:
            self._applier = None
            for p in batch + self._pending:
                if not p.done.done():
                    p.done.cancel()
            self._pending = []

    async def _gather(self) -> None:
        """Let the other deliveries of the fetch pass their gates and join the batch (for
        GATHER_SECONDS at most: a gate that waits longer is settled in the next batch)."""
        await asyncio.sleep(0)
        if not self._in_gates:
            return
        self._all_in = asyncio.Event()
        try:
            await asyncio.wait_for(self._all_in.wait(), GATHER_SECONDS)
        except TimeoutError:
            pass
        finally:
            self._all_in = None

    async def _apply(self, batch: list[_Pending]) -> None:
        c = self.consumer
        results: list[Outcome | Exception]
        try:
            results = list(await c.handle_batch([(p.env, p.event) for p in batch]))
        except Exception as e:
            if len(batch) == 1:
                results = [e]
            else:
                log.info(
                    "batch_failed_one_by_one",
                    consumer=c.name,
                    events=len(batch),
                    error=type(e).__name__,
                )
                results = []
                for p in batch:
                    try:
                        with c.handling(p.env):
                            results.append(await c.handle(p.env, p.event))
                    except Exception as alone:
                        results.append(alone)
        for p, result in zip(batch, results, strict=True):
            if p.done.done():
                continue
            if isinstance(result, Exception):
                p.done.set_exception(result)
            else:
                p.done.set_result(result)

    async def _wait(self, msg: NatsMessage, e: OutOfOrder, started: float) -> None:
        # Never skipped: JetStream hands it back until its predecessor has been applied
        # (a killed replica's message returns after ack_wait).
        n = msg.raw_message.metadata.num_delivered
        fields = {"consumer": self.consumer.name, "expected_version": e.expected, "version": e.got}
        if n >= GAP_WARN_AFTER and n % GAP_WARN_AFTER == 0:
            log.warning("event_still_waits_for_earlier", deliveries=n, **fields)
        else:
            log.info("event_waits_for_earlier", **fields)
        delay = min(GAP_FIRST_RETRY_SECONDS * 2 ** max(n - 1, 0), GAP_RETRY_SECONDS)
        await msg.nack(delay=delay)
        self.observed.nacked(started)

    async def _failed(
        self, msg: NatsMessage, env: Envelope, error: Exception, started: float
    ) -> None:
        name = self.consumer.name
        try:
            attempts = await self.consumer.failed(env, error)
        except Exception:
            # Postgres is unreachable: not the handler's fault, and no attempt is counted.
            log.warning("handler_failed_will_retry", consumer=name, error=type(error).__name__)
            await msg.nack(delay=self.redeliver_after)
            self.observed.nacked(started)
            return
        if attempts < self.max_deliver:
            log.warning(
                "handler_failed_will_retry",
                consumer=name,
                error=type(error).__name__,
                attempt=attempts,
            )
            await msg.nack(delay=self.redeliver_after * attempts)
            self.observed.nacked(started)
            return
        reason = f"handler failed {attempts} times: {type(error).__name__}"
        await self.dead_letter(msg, env, reason, started, "retries_exhausted")

    async def dead_letter(
        self, msg: NatsMessage, env: Envelope, reason: str, started: float, cause: str
    ) -> None:
        """Dead-letter an authentic event, then move past it in its stream's order so the
        events after it go on (an operator may redeliver it from the dead letters)."""
        raw = msg.raw_message
        meta = raw.metadata
        await self.dead_letters.send(
            raw.data, reason, raw.subject, f"{meta.stream}:{meta.sequence.stream}"
        )
        try:
            await self._in_order(env, None)
        except OutOfOrder as e:
            await self._wait(msg, e, started)  # its turn has not come; sent again then
            return
        except Exception as e:
            log.warning("pass_over_failed", consumer=self.consumer.name, error=type(e).__name__)
            await msg.nack(delay=self.redeliver_after)
            self.observed.nacked(started)
            return
        log.error("message_dead_lettered", consumer=self.consumer.name, reason=reason)
        await msg.ack()
        self.observed.dead_lettered(started, cause)


def _stream_order(batch: list[_Pending]) -> list[_Pending]:
    """``batch`` in the order of the JetStream stream, except that the events of each
    event-store stream are in version order (a redelivered or republished copy may come
    later on the JetStream stream than a newer event of its own stream)."""
    batch = sorted(batch, key=lambda p: p.sequence)
    places: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, p in enumerate(batch):
        places[(p.env.service, p.env.subject)].append(i)
    for at in places.values():
        if len(at) > 1:
            by_version = sorted((batch[i] for i in at), key=lambda p: p.env.streamversion)
            for i, p in zip(at, by_version, strict=True):
                batch[i] = p
    return batch


@contextlib.asynccontextmanager
async def _heartbeat(msg: NatsMessage, every: float) -> AsyncIterator[None]:
    """Tell JetStream every ``every`` seconds that the message is still being handled."""

    async def beat() -> None:
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(Exception):
                await msg.raw_message.in_progress()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


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
    ack_wait: float = ACK_WAIT_SECONDS,
    batch_size: int = BATCH_SIZE,
    events: Sequence[type[Event]] | None = None,
    description: str | None = None,
) -> None:
    """Register ``consumer`` as a durable pull subscriber with explicit acks on ``broker``.

    Its handler takes the typed message of ``events`` (by default the consumer's types
    among the events of the service whose subjects it reads, ``<namespace>.<service>.>``);
    ``gated_subscriber`` checks the signature and the schema first, and hands the events
    of other types to the consumer to pass over. Every replica may fetch from the one
    durable consumer: ``InOrder`` applies the events of each stream in version order
    whatever order they arrive in. A handler failure is redelivered (nak with a growing
    delay), and dead-lettered after ``max_deliver`` failures counted in Postgres
    (JetStream's own count also counts waits for an earlier event, so it is unlimited).
    It fetches up to ``batch_size`` messages at once and applies those that pass their
    gates together in one transaction (``InOrder``; 1: one message per transaction).
    """
    source = subject.split(".")[1] if subject.count(".") >= 2 else None
    model = message_model(_model_name(durable), events or consumer.events(source))
    observed = ConsumerMetrics(durable)
    in_order = InOrder(
        consumer,
        dead_letters,
        observed,
        max_deliver=max_deliver,
        redeliver_after=redeliver_after,
        ack_wait=ack_wait,
        batched=batch_size > 1,
    )

    async def on_event(message: EventMessage) -> None:
        # The delivery from the gate, not a ``NatsMessage`` parameter: FastStream resolves
        # that context field in a worker thread, a hand-off per message.
        await in_order.settle(delivery(), message.envelope, message.event, received_at())

    on_event.__annotations__ = {"message": model, "return": None}
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
        pull_sub=PullSub(batch_size=batch_size, timeout=1.0),
        config=ConsumerConfig(
            durable_name=durable,
            max_deliver=-1,
            ack_wait=ack_wait,
            deliver_policy=DeliverPolicy.ALL,
        ),
        inbox_prefix=inbox_prefix,
        description=description or consumer.description,
        in_order=in_order,
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
    in_order: InOrder | None = None,
) -> None:
    """A durable pull subscriber (manual acks) whose ``handler`` takes ``model``.

    Before the handler, in this order (``EventGate``): the signature of the service whose
    subject the message came on (``check_origin``), then the envelope and the event's
    schema through ``registry`` (upcasting old versions). What fails either goes to
    ``dead_letters`` with its reason and is acked. An authentic event of a type ``model``
    does not name is acked unread (``ignore_others``) or dead-lettered. The handler acks.
    With ``in_order`` (an inbox consumer), events of other types and authentic events that
    fail their schema are passed over in their stream's order instead (``InOrder``).
    """
    prompt_fetch.install()  # its first message handed over at once (shared/prompt_fetch.py)
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
                    in_order,
                    registry,
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
        in_order: InOrder | None = None
        registry: Registry = default_registry

    policy: ClassVar[Policy]

    async def consume_scope(self, call_next: Any, msg: StreamMessage[Any]) -> Any:
        p = self.policy
        raw = msg.raw_message
        structlog.contextvars.clear_contextvars()
        started = p.observed.received(raw.metadata.num_delivered)
        _received_at.set(started)
        _delivery.set(cast(NatsMessage, msg))
        if p.in_order is None:
            return await self._gated(call_next, msg, started)
        p.in_order.entered(msg)
        try:
            return await self._gated(call_next, msg, started)
        finally:
            p.in_order.left(msg)

    async def _gated(self, call_next: Any, msg: StreamMessage[Any], started: float) -> Any:
        p = self.policy
        raw = msg.raw_message
        authentic = False
        try:
            check_origin(p.verifier, raw.data, raw.subject, raw.metadata.stream)  # first
            authentic = True
            if p.in_order is not None and (env := _unread(raw.data, p)) is not None:
                # Most of a stream's events are of types this consumer does not read:
                # their envelope is enough to keep the stream's order, so their data is
                # neither validated nor upcast.
                await p.in_order.settle(cast(NatsMessage, msg), env, None, started)
                return None
            message = await msg.decode()
            assert isinstance(message, EventMessage)
            event = message.event
            if not isinstance(event, p.accepted) and not p.ignore_others:
                raise Malformed(f"{message.type[:200]} is not handled by {p.consumer}")
        except Malformed as e:
            env = _envelope_of(raw.data) if authentic and p.in_order is not None else None
            if p.in_order is not None and env is not None:
                # Signed by its service but unreadable here: dead-lettered in its turn.
                await p.in_order.dead_letter(
                    cast(NatsMessage, msg), env, str(e), started, dead_letter_cause(e)
                )
                return None
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
            if p.in_order is not None:
                await p.in_order.settle(cast(NatsMessage, msg), message.envelope, None, started)
                return None
            await msg.ack()
            p.observed.acked(started)
            log.debug("message_handled", consumer=p.consumer, outcome=Outcome.IGNORED.value)
            return None
        return await call_next(msg)


_received_at: ContextVar[float] = ContextVar("safepath_message_received_at")


_delivery: ContextVar[NatsMessage] = ContextVar("safepath_message_delivery")


def delivery() -> NatsMessage:
    """The message being handled, as the gate received it (for the handler's acks)."""
    return _delivery.get()


def received_at() -> float:
    """When the gate received the message being handled (``time.perf_counter()``), for
    the handler's ``ConsumerMetrics`` outcome."""
    return _received_at.get()


def _unread(raw: bytes, policy: EventGate.Policy) -> Envelope | None:
    """The envelope of an event of a known type the consumer does not read (``None`` for
    every other message, which is then decoded in full)."""
    env = _envelope_of(raw)
    if env is None or env.type.count(".") < 3:
        return None
    try:
        model = policy.registry.model_for(env.type)
    except UnknownEventType:
        return None  # dead-lettered in its turn by the full decode
    return None if issubclass(model, policy.accepted) else env


def _envelope_of(raw: bytes) -> Envelope | None:
    try:
        return Envelope.from_json(raw)
    except (ValueError, UnicodeDecodeError):
        return None


def _gate(policy: EventGate.Policy) -> type[EventGate]:
    return type("EventGate", (EventGate,), {"policy": policy})


def _data_types(model: type[EventMessage]) -> tuple[type[Event], ...]:
    annotation = model.model_fields["data"].annotation
    found = get_args(annotation) or (annotation,)
    return tuple(t for t in found if isinstance(t, type) and issubclass(t, Event))


def _model_name(durable: str) -> str:
    """``notify-referrals`` → ``NotifyReferralsMessage``."""
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", durable)) + "Message"
