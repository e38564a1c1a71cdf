"""The relay: the events table is the outbox.

One background task per service reads committed events in global order from its
checkpoint, publishes each to ``<namespace>.<service>.<stream_id>.<EventName>`` with
``Nats-Msg-Id`` = event id, each after the previous one's ack, then advances the
checkpoint over the batch. It wakes when a commit that appended events is announced
(``EventStore.on_append``: after the commit; from this process directly, from another
process by ``NOTIFY`` on the store's ``appended_channel``), with a slow poll as a
fallback; and, when a read saw a committed event that an older transaction still running
holds back (``EventStore.read_all_held``; that one's commit is not announced), it looks
again within milliseconds.
The checkpoint is saved at most once every ``checkpoint_seconds`` (1 s; sooner after
``UNSAVED_AT_MOST`` events), not after every round: each save is a commit and a WAL flush,
and a relay at ten flows a second had made one per event it published. What a crash
loses is a position, never an event: on start the relay skips what the stream already
holds (its last message names the last event published, and the events between the
saved checkpoint and it are checked against the stream's last messages one by one), and
what it publishes again JetStream drops by message id, so an event lands on the stream
once even when the relay was down longer than the duplicate window.

When that last message names an event the store does not hold, the store is behind the
stream (restored from a backup): publishing now would put new events where the missing
ones belong, and a re-created event id could carry other content. The relay then
publishes nothing, logs one ERROR naming the fix (``safepath recover --service X``),
says so in ``blocked`` and checks again every ``behind_retry_seconds``, so it resumes
by itself once the missing events are back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import Awaitable, Callable
from uuid import UUID

import asyncpg
import nats.errors
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import APIError, NotFoundError

from shared.eventstore import Checkpoint, EventStore, StoredEvent
from shared.logging import get_logger
from shared.metrics import RELAY_PUBLISHED
from shared.signatures import EventSigner
from shared.tracing import publishing

log = get_logger("safepath.relay")
# At most this many events are skipped as already on the stream (each one is checked);
# beyond, the relay publishes again and JetStream drops the copies it holds.
_MAX_SKIP = 5000
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")
# An acked position is saved within this many seconds, or once this many events are
# published since the last save (well under ``_MAX_SKIP``: a restart checks them all).
CHECKPOINT_SECONDS = 1.0
UNSAVED_AT_MOST = 1000
# A committed event a read could not see yet (an older transaction still runs) is looked
# for again after this, then twice as long each time it is still held, up to the poll.
HELD_FIRST_RETRY_SECONDS = 0.002
# Events of a batch sent before their acks come back (``Relay.publish_batch``).
IN_FLIGHT = 64
# JetStream's error code for a publish refused by ``Nats-Expected-Last-Msg-Id``.
_WRONG_LAST_MSG_ID = 10070


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _refused_as_not_next(error: BaseException) -> bool:
    """JetStream refused a publish because the stream's last message was not the one its
    ``Nats-Expected-Last-Msg-Id`` named (nothing was stored)."""
    return isinstance(error, APIError) and error.err_code == _WRONG_LAST_MSG_ID


def subject_for(root: str, event: StoredEvent) -> str:
    return f"{root}.{_UNSAFE.sub('_', event.stream_id)}.{event.event_name}"


class StoreBehindStream(Exception):
    """The stream holds an event the store does not: the store was restored from a backup."""

    def __init__(self, service: str, stream: str, seq: int, event_id: str) -> None:
        super().__init__(
            f"the {stream} stream's last message (seq {seq}, event {event_id}) is not in the"
            f" {service} store: the store is behind the stream (restored from a backup?)."
            f" Nothing is published until the missing events are back: stop the {service}"
            f" service and run `safepath recover --service {service}`"
        )
        self.seq = seq
        self.event_id = event_id


class Relay:
    """Publishes one service's events to its JetStream stream, in global order."""

    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        subject_root: str,
        stream: str,
        signer: EventSigner,
        name: str = "relay",
        batch: int = 500,
        poll_seconds: float = 0.25,
        behind_retry_seconds: float = 10.0,
        ack_timeout: float = 5.0,
        round_timeout: float = 30.0,
        checkpoint_seconds: float = CHECKPOINT_SECONDS,
    ) -> None:
        self.store = store
        self.js = js
        self.root = subject_root
        self.stream = stream
        self.signer = signer
        self.name = name
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.ack_timeout = ack_timeout
        self.round_timeout = round_timeout
        self.behind_retry_seconds = behind_retry_seconds
        self.checkpoint_seconds = checkpoint_seconds
        # The last event JetStream acked (in memory), the last position saved, when, and
        # how many events were published since: the save is due after
        # ``checkpoint_seconds`` or ``UNSAVED_AT_MOST`` events (``save_when_due``).
        self.acked = Checkpoint()
        self._saved = Checkpoint()
        self._saved_at: float | None = None
        self._unsaved = 0
        # Why the relay publishes nothing (the store is behind its stream), or None.
        self.blocked: str | None = None
        self._wake = asyncio.Event()
        self.published = 0
        # Test hook: called after an event's publish was acked, before its checkpoint.
        self.after_publish: Callable[[StoredEvent], Awaitable[None]] | None = None
        self._listener: asyncpg.Connection | None = None
        # The last read saw a committed event it could not read yet (``read_all_held``):
        # the relay looks again after ``_held_retry`` (doubling up to ``poll_seconds``)
        # instead of waiting for the next commit announced or its poll.
        self.held_back = False
        self._held_retry = HELD_FIRST_RETRY_SECONDS
        # The last read returned fewer events than a batch and held none back: the relay
        # had every committed event as of that read, and a commit announced since has set
        # ``_wake`` (cleared before the read), so it waits instead of reading again.
        self.caught_up = False
        # The event this relay last stored on the stream (its message id), which the next
        # one sent ahead of the acks expects to follow; None after a (re)start or anything
        # unexpected: publish one at a time until an ack tells it.
        self._last_id: str | None = None

    def nudge(self, *_: object) -> None:
        self._wake.set()

    async def _listen(self) -> None:
        """Hold a connection that listens for the store's commits (again after it broke)."""
        if self._listener is not None and not self._listener.is_closed():
            return
        await self._unlisten()
        conn = await self.store.pool.acquire()
        try:
            await conn.add_listener(self.store.appended_channel, self.nudge)
        except BaseException:
            await self.store.pool.release(conn)
            raise
        self._listener = conn

    async def _unlisten(self) -> None:
        conn, self._listener = self._listener, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            await conn.remove_listener(self.store.appended_channel, self.nudge)
        with contextlib.suppress(Exception):
            await self.store.pool.release(conn)

    async def _already_published(self, cp: Checkpoint) -> Checkpoint:
        """Advance ``cp`` past events the stream already holds (crash after publish).

        Raises ``StoreBehindStream`` when the stream's last message names an event the
        store does not hold."""
        info = await self.js.stream_info(self.stream)
        if not info.state.last_seq:
            return cp
        try:
            msg = await self.js.get_msg(self.stream, seq=info.state.last_seq)
        except NotFoundError:
            return cp
        try:
            event_id = str(UUID((msg.headers or {}).get("Nats-Msg-Id", "")))
        except ValueError:
            return cp  # not one of ours (e.g. a message republished by hand)
        row = await self.store.pool.fetchrow(
            f'SELECT tx_id::text AS tx_id, global_position FROM "{self.store.schema}".event'
            " WHERE event_id = $1::uuid",
            event_id,
        )
        if row is None:
            raise StoreBehindStream(self.store.service, self.stream, msg.seq or 0, event_id)
        last = Checkpoint(int(row["tx_id"]), row["global_position"])
        if last <= cp:
            return cp
        return last if await self._gapless(cp, last, info.state.last_seq) else cp

    async def _gapless(self, cp: Checkpoint, last: Checkpoint, last_seq: int) -> bool:
        """Whether the events after ``cp`` up to ``last`` are the stream's last messages,
        in order. A batch whose first publish was lost while later ones got through
        (nats-py sends what it buffered once it has reconnected) leaves a hole: jumping
        to the last message would skip the lost event for good, so the relay then
        publishes again from ``cp`` (JetStream drops what it already holds, by id)."""
        ids: list[str] = []
        after = cp
        while after < last and len(ids) <= _MAX_SKIP:
            events = await self.store.read_all(after, 500)
            if not events:
                break
            for ev in events:
                if ev.checkpoint > last:
                    break
                ids.append(str(ev.event_id))
            after = events[-1].checkpoint
        if not ids or len(ids) > min(_MAX_SKIP, last_seq):
            return False
        first = last_seq - len(ids) + 1
        for i, expected in enumerate(ids):
            try:
                msg = await self.js.get_msg(self.stream, seq=first + i)
            except NotFoundError:
                return False
            if (msg.headers or {}).get("Nats-Msg-Id") != expected:
                log.warning(
                    "relay_stream_has_a_hole",
                    service=self.store.service,
                    stream=self.stream,
                    stream_seq=first + i,
                    republishing_from=str(cp.position),
                )
                return False
        return True

    async def _start_from(self) -> Checkpoint | None:
        """Where to publish from, or None while the store is behind the stream."""
        self._last_id = None
        try:
            # A position acked but not saved yet (this process's, after a NATS error) is
            # as good as a saved one: every event up to it is on the stream.
            saved = await self.store.get_checkpoint(self.name)
            cp = await self._already_published(max(saved, self.acked))
        except StoreBehindStream as e:
            if self.blocked is None:  # one ERROR per episode, not one per check
                log.error(
                    "relay_store_behind_stream",
                    service=self.store.service,
                    stream=self.stream,
                    stream_seq=e.seq,
                    event_id=e.event_id,
                    fix=f"safepath recover --service {self.store.service}",
                    detail=str(e),
                )
            self.blocked = str(e)
            return None
        if self.blocked is not None:
            log.info("relay_resumed", service=self.store.service, stream=self.stream)
            self.blocked = None
        if cp != saved:
            await self.store.save_checkpoint(self.name, cp)
        self.acked = self._saved = cp
        self._saved_at = asyncio.get_running_loop().time()
        self._unsaved = 0
        return cp

    def _save_due_in(self) -> float | None:
        """Seconds until the acked position must be saved (0: now), or None when saved."""
        if self.acked == self._saved:
            return None
        if self._saved_at is None or self._unsaved >= UNSAVED_AT_MOST:
            return 0.0
        elapsed = asyncio.get_running_loop().time() - self._saved_at
        return max(0.0, self.checkpoint_seconds - elapsed)

    async def save_when_due(self, *, now: bool = False) -> None:
        """Save the acked position if it is due (``now``: if it is not saved yet)."""
        due = self._save_due_in()
        if due is None or (due > 0 and not now):
            return
        cp = self.acked
        await self.store.save_checkpoint(self.name, cp)
        self._saved, self._saved_at, self._unsaved = cp, asyncio.get_running_loop().time(), 0

    async def publish_batch(self, cp: Checkpoint) -> tuple[Checkpoint, int]:
        """Publish the next batch after ``cp``; return the new checkpoint and the count.

        Up to ``IN_FLIGHT`` events are sent before their acks come back, each with
        ``Nats-Expected-Last-Msg-Id`` naming the event before it: JetStream stores an event
        only if the stream's last message is that one, so an event lost in a reconnect, or
        a message someone else put on the stream, makes every later one of the window
        refused instead of stored after a hole. (A window without that header was tried:
        when NATS restarted mid-batch, the first publishes died with the connection while
        nats-py sent the later ones it had buffered once it had reconnected, and the stream
        held a hole, or, repaired, events out of order. An expected last *sequence* is not
        enough: one foreign message moves it by one and the window's later expectations
        match again, which a test here showed.)

        The first of a window follows the event this relay last stored: after a (re)start,
        and after anything unexpected, events go one at a time without an expectation, as
        before (JetStream drops the copies of events it already holds, and a copy is not
        the stream's last message), until one is stored anew."""
        events, self.held_back = await self.store.read_all_held(cp, self.batch)
        self.caught_up = not self.held_back and len(events) < self.batch
        done = cp
        sent = 0
        try:
            i = 0
            while i < len(events):
                if self._last_id is None:
                    window = events[i : i + 1]
                    acks: list[PubAck | BaseException] = [await self._publish(window[0], None)]
                else:
                    window = events[i : i + IN_FLIGHT]
                    before = [self._last_id, *(str(ev.event_id) for ev in window[:-1])]
                    acks = await asyncio.gather(
                        *(self._publish(ev, b) for ev, b in zip(window, before, strict=True)),
                        return_exceptions=True,
                    )
                for k, ack in enumerate(acks):
                    if isinstance(ack, BaseException):
                        self._last_id = None
                        if isinstance(ack, asyncio.CancelledError):
                            # One publish cancelled under us (not this task: gather would
                            # have raised): its outcome is unknown, like a lost ack's.
                            raise nats.errors.TimeoutError from ack
                        if _refused_as_not_next(ack):
                            # Refused, and the rest after it: the stream moved on without
                            # this relay (another publisher's message). Nothing of the
                            # window was lost before it; go on one at a time from here.
                            break
                        # Lost, or perhaps stored with its ack lost, the rest of the window
                        # with it: the relay starts again from its checkpoint and the
                        # stream's last message (``_already_published``).
                        raise ack
                    ev = window[k]
                    if self.after_publish is not None:
                        await self.after_publish(ev)
                    done = ev.checkpoint
                    sent += 1
                    i += 1
                    if ack.duplicate:
                        # Already on the stream (a copy is not stored, so the stream's last
                        # message is not this one): the rest of the window was refused; go
                        # on one at a time.
                        self._last_id = None
                        break
                    self._last_id = str(ev.event_id)
        finally:
            if done != cp:
                self.acked = max(self.acked, done)
                self._unsaved += sent
                self.published += sent
                RELAY_PUBLISHED.labels(self.store.service).inc(sent)
                await self.save_when_due()
        return done, sent

    async def _publish(self, ev: StoredEvent, after: str | None) -> PubAck:
        env = ev.to_envelope(self.store.service)
        headers = {"Nats-Msg-Id": str(ev.event_id), "Content-Type": "application/cloudevents+json"}
        if after is not None:
            headers["Nats-Expected-Last-Msg-Id"] = after
        # A traced event is published in its own span (shared/tracing.py).
        with publishing(self.store.service, self.stream, env) as env:
            doc = self.signer.sign(env.to_dict())
            payload = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
            return await self.js.publish(
                subject_for(self.root, ev),
                payload,
                timeout=self.ack_timeout,
                stream=self.stream,
                headers=headers,
            )

    def _next_look(self) -> float:
        """How long an idle relay waits for a commit to be announced before it reads again:
        its poll, or, while a committed event is held back by a transaction still running
        (which commits unannounced), a few milliseconds, doubling while it stays held."""
        if not self.held_back:
            self._held_retry = HELD_FIRST_RETRY_SECONDS
            return self.poll_seconds
        wait = min(self._held_retry, self.poll_seconds)
        self._held_retry = min(self._held_retry * 2, self.poll_seconds)
        return wait

    async def _idle(self) -> None:
        """Wait for a commit announced or the next look; meanwhile save the acked position
        when its save comes due (a relay with nothing more to publish still saves where
        it got to, without reading again for it)."""
        clock = asyncio.get_running_loop().time
        until = clock() + self._next_look()
        while (left := until - clock()) > 0:
            due = self._save_due_in()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a
                # cancellation that arrives as the wait completes.
                async with asyncio.timeout(left if due is None else min(left, due)):
                    await self._wake.wait()
                return
            except TimeoutError:
                # No step may hang for ever (see ``_run``).
                async with asyncio.timeout(self.round_timeout):
                    await self.save_when_due()

    async def run(self) -> None:
        """Run until cancelled. Survives NATS and Postgres outages by retrying."""
        # This process's commits that append wake the relay directly (after commit);
        # other processes' by NOTIFY, which the relay LISTENs for.
        stop_hearing = self.store.on_append(self.nudge, relay=True)
        try:
            await self._run()
        finally:
            stop_hearing()
            await self._unlisten()
            # Stopping (shutdown, the lease lost): save where it got to, if it can quickly;
            # if not, the next start finds the events on the stream.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self.save_when_due(now=True)

    async def _run(self) -> None:
        cp: Checkpoint | None = None
        delay = 0.2
        while True:
            try:
                # No step may hang for ever (a pool or a NATS flush that never answers):
                # a round that takes too long is given up and started again, loudly.
                async with asyncio.timeout(self.round_timeout):
                    await self._listen()
                    if cp is None:
                        cp = await self._start_from()
                    if cp is not None:
                        # Cleared before reading: a commit announced while reading wakes
                        # the wait below.
                        self._wake.clear()
                        cp, sent = await self.publish_batch(cp)
                if cp is None:
                    await asyncio.sleep(self.behind_retry_seconds)
                    continue
                delay = 0.2
                # After a round that published, a relay caught up does not read again
                # at once to find nothing (one statement per commit, half its reads).
                if sent == 0 or self.caught_up:
                    await self._idle()
            except asyncio.CancelledError:
                raise
            except (nats.errors.Error, OSError, TimeoutError) as e:
                if _cancelling():  # nats-py may turn our cancellation into its own error
                    raise asyncio.CancelledError from e
                log.warning("relay_publish_failed", error=type(e).__name__, retry_in=delay)
                cp = None  # re-read the saved checkpoint and the stream's last message
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception as e:  # Postgres down, etc.: keep trying, never die silently
                if _cancelling():
                    raise asyncio.CancelledError from e
                log.warning("relay_failed", error=type(e).__name__, retry_in=delay)
                cp = None
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
