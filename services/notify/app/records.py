"""A notification's delivery record: read it once, decide on it, append, and update the
views, in the caller's transaction (so a round's events and its views commit together).

``read`` folds the stream once into a ``Snapshot``; ``append`` writes events decided on
that snapshot with one expected-version append (``ConcurrencyError`` when another writer
moved the stream on: read again and decide again) and brings the views along from the
state after the events, without reading the stream again.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import cast

import asyncpg
from opentelemetry import context as otel_context
from opentelemetry.context import Context as TraceContext

from services.notify.domain import delivery
from services.notify.domain.delivery import DeliveryEvent, DeliveryRecord
from shared.envelope import Actor
from shared.events.base import Event
from shared.events.notify import (
    DeliveryAttempted,
    NotificationDelivered,
    NotificationFailed,
    NotificationQueued,
    NotificationRedeliveryRequested,
)
from shared.eventstore import ConcurrencyError, EventStore, NewEvent, StoredEvent
from shared.migrations import quote_ident

NOTIFY = Actor.service("notify")
_SETTLING = (NotificationDelivered, NotificationFailed, NotificationRedeliveryRequested)


@contextmanager
def in_trace(trace: TraceContext | None) -> Iterator[None]:
    """Run in ``trace`` (another task's OpenTelemetry context), when given."""
    if trace is None:
        yield
        return
    token = otel_context.attach(trace)
    try:
        yield
    finally:
        otel_context.detach(token)


def fold(events: Sequence[Event]) -> DeliveryRecord:
    return delivery.fold([cast(DeliveryEvent, e) for e in events])


@dataclass(frozen=True)
class Snapshot:
    """A notification's record as read once: the folded state, the stream version it was
    folded at (what an append expects), and the queued event (what to send, and over
    which channels); ``queued`` is None for a notification never queued."""

    state: DeliveryRecord
    version: int
    queued: NotificationQueued | None


Recorded = list[tuple[StoredEvent, DeliveryEvent]]


@dataclass(frozen=True)
class Round:
    """One notification's round as decided: ``events`` on ``snapshot``, leading to
    ``after``."""

    notification_id: str
    snapshot: Snapshot
    events: Sequence[DeliveryEvent]
    after: DeliveryRecord
    correlation_id: str
    # The trace the round ran in: its events keep it in their metadata, as an append made
    # in the round's own task does (shared/tracing.py).
    trace: TraceContext | None = None


class Records:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.q = quote_ident(store.schema)

    async def read(self, conn: asyncpg.Connection, notification_id: str) -> Snapshot:
        """The record, folded once (one statement)."""
        return self._snapshot(await self.store.read_stream(notification_id, conn=conn))

    async def read_many(
        self, conn: asyncpg.Connection, notification_ids: Collection[str]
    ) -> dict[str, Snapshot]:
        """``read`` for several notifications in one statement."""
        streams = await self.store.read_streams(notification_ids, conn=conn)
        return {nid: self._snapshot(streams.get(nid, [])) for nid in notification_ids}

    def _snapshot(self, stored: Sequence[StoredEvent]) -> Snapshot:
        events = [cast(DeliveryEvent, self.store.load(s)) for s in stored]
        queued = events[0] if events and isinstance(events[0], NotificationQueued) else None
        version = stored[-1].stream_version if stored else 0
        return Snapshot(delivery.fold(events), version, queued)

    async def current(self, conn: asyncpg.Connection, notification_id: str) -> DeliveryRecord:
        return (await self.read(conn, notification_id)).state

    async def record(
        self,
        conn: asyncpg.Connection,
        notification_id: str,
        command: delivery.Command,
        now: datetime,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        actor: Actor = NOTIFY,
    ) -> Recorded:
        """Decide ``command`` on the current record and append its events, with the views.

        A notification being queued is new nearly always: its events are decided on the
        empty record and appended at version 0 without reading the stream (the append
        checks the version, and a stream that exists makes it write nothing, without
        aborting the caller's transaction); only then is the record read and the command
        decided again (a redelivered referral event: nothing to append)."""
        if isinstance(command, delivery.QueueNotification):
            empty = Snapshot(delivery.fold([]), 0, None)
            events = delivery.decide(empty.state, command, now)
            after = empty.state
            for event in events:
                after = delivery.evolve(after, event)
            try:
                return await self.append(
                    conn,
                    notification_id,
                    empty,
                    events,
                    after,
                    now,
                    correlation_id=correlation_id,
                    causation_id=causation_id,
                    actor=actor,
                )
            except ConcurrencyError:
                pass  # queued before: read it and decide again
        snapshot = await self.read(conn, notification_id)
        events = delivery.decide(snapshot.state, command, now)
        after = snapshot.state
        for event in events:
            after = delivery.evolve(after, event)
        return await self.append(
            conn,
            notification_id,
            snapshot,
            events,
            after,
            now,
            correlation_id=correlation_id,
            causation_id=causation_id,
            actor=actor,
        )

    async def append(
        self,
        conn: asyncpg.Connection,
        notification_id: str,
        snapshot: Snapshot,
        events: Sequence[DeliveryEvent],
        after: DeliveryRecord,
        now: datetime,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        actor: Actor = NOTIFY,
    ) -> Recorded:
        """Append ``events`` (decided on ``snapshot``, leading to ``after``) if the stream
        is still at ``snapshot.version``, and update the views; raises
        ``ConcurrencyError`` (nothing written) when it moved on."""
        if not events:
            return []
        stored = await self.store.append(
            notification_id,
            snapshot.version,
            [
                NewEvent(e, actor, correlation_id, causation_id=causation_id, occurred_at=now)
                for e in events
            ],
            conn=conn,
        )
        recorded = list(zip(stored, events, strict=True))
        await self._project(conn, [(recorded, after)])
        return recorded

    async def append_rounds(
        self, conn: asyncpg.Connection, rounds: Sequence[Round], now: datetime
    ) -> list[Recorded]:
        """Several notifications' rounds in the caller's transaction: one expected-version
        append per notification, then the views of all of them together (all attempts in
        one insert, all statuses in one update). ``ConcurrencyError`` when any stream moved
        on: the caller rolls back and records the rounds one by one."""
        out: list[Recorded] = []
        for r in rounds:
            with in_trace(r.trace):
                stored = await self.store.append(
                    r.notification_id,
                    r.snapshot.version,
                    [NewEvent(e, NOTIFY, r.correlation_id, occurred_at=now) for e in r.events],
                    conn=conn,
                )
            out.append(list(zip(stored, r.events, strict=True)))
        await self._project(conn, [(rec, r.after) for rec, r in zip(out, rounds, strict=True)])
        return out

    async def _project(
        self, conn: asyncpg.Connection, changes: Sequence[tuple[Recorded, DeliveryRecord]]
    ) -> None:
        """The views from the appended events and the state after them: one statement per
        kind of change (all attempts in one insert, the statuses in one update)."""
        q = self.q
        attempts: list[tuple[StoredEvent, DeliveryAttempted]] = []
        statuses: list[tuple[str, str, datetime]] = []
        for recorded, after in changes:
            settled_at = await self._project_events(conn, recorded, attempts)
            if settled_at is not None:
                statuses.append((recorded[0][1].notification_id, after.status, settled_at))
        if attempts:
            await conn.execute(
                f"""INSERT INTO {q}.delivery_attempt (notification_id, channel, attempt,
                    status_code, error_kind, latency_ms, succeeded, attempted_at)
                    SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::int[],
                                         $5::text[], $6::float8[], $7::bool[],
                                         $8::timestamptz[])""",
                [e.notification_id for _, e in attempts],
                [e.channel for _, e in attempts],
                [e.attempt for _, e in attempts],
                [e.status_code for _, e in attempts],
                [e.error_kind for _, e in attempts],
                [e.latency_ms for _, e in attempts],
                [e.succeeded for _, e in attempts],
                [s.occurred_at for s, _ in attempts],
            )
        if statuses:
            await conn.execute(
                f"""UPDATE {q}.notification AS n SET status = u.status, updated_at = u.at
                    FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(id, status, at)
                    WHERE n.notification_id = u.id""",
                [i for i, _, _ in statuses],
                [st for _, st, _ in statuses],
                [at for _, _, at in statuses],
            )

    async def _project_events(
        self,
        conn: asyncpg.Connection,
        recorded: Recorded,
        attempts: list[tuple[StoredEvent, DeliveryAttempted]],
    ) -> datetime | None:
        """The rare views written per event (queued, dead letter, redelivery); the attempts
        collected into ``attempts``; when the record settled, if it did."""
        q = self.q
        settled_at: datetime | None = None
        for s, e in recorded:
            at = s.occurred_at
            if isinstance(e, NotificationQueued):
                await conn.execute(
                    f"""INSERT INTO {q}.notification (notification_id, referral_id, case_id,
                        recipient_kind, recipient_id, template, language, channels, status,
                        queued_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9)""",
                    e.notification_id,
                    e.referral_id,
                    e.case_id,
                    e.recipient_kind,
                    e.recipient_id,
                    e.template,
                    e.language,
                    list(e.channels),
                    at,
                )
                continue
            if isinstance(e, DeliveryAttempted):
                attempts.append((s, e))
            elif isinstance(e, NotificationFailed):
                await conn.execute(
                    f"""INSERT INTO {q}.dead_letter (notification_id, channel, reason, attempts,
                        last_status_code, last_error_kind, failed_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        ON CONFLICT (notification_id, channel) DO UPDATE
                        SET reason = excluded.reason, attempts = excluded.attempts,
                            last_status_code = excluded.last_status_code,
                            last_error_kind = excluded.last_error_kind,
                            failed_at = excluded.failed_at""",
                    e.notification_id,
                    e.channel,
                    e.reason,
                    e.attempts,
                    e.last_status_code,
                    e.last_error_kind,
                    at,
                )
            elif isinstance(e, NotificationRedeliveryRequested):
                await conn.execute(
                    f"DELETE FROM {q}.dead_letter WHERE notification_id = $1"
                    " AND channel = ANY($2::text[])",
                    e.notification_id,
                    list(e.channels),
                )
            if isinstance(e, _SETTLING):
                settled_at = at
        return settled_at
