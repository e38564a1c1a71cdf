"""The event store: append-only streams in Postgres, one schema per service.

Guarantees (each proven by a test in ``tests/integration/platform``):

* ``append`` checks the expected stream version; on a mismatch it raises
  ``ConcurrencyError`` and writes nothing.
* Each event stores ``hash = sha256(prev_hash || sha256(canonical content))`` so a change,
  removal or reordering is found by ``verify``. Identifying fields are ciphertext in the
  content, so erasing a key never breaks a chain.
* ``read_all`` follows the global order ``(tx_id, global_position)`` and only reads
  events of transactions older than every transaction still running, so an event that
  commits late with a lower position is never skipped, and none is read twice; writers
  are never serialised (no table lock).
* The database refuses UPDATE, DELETE and TRUNCATE on events (trigger).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple
from uuid import UUID

import asyncpg

from shared import jsontext
from shared.digest import _json_content_digest, canonical_bytes, chain_hash
from shared.envelope import Actor, Envelope, dataschema_for
from shared.events.base import Event
from shared.events.registry import Registry
from shared.events.registry import registry as default_registry
from shared.ids import uuid7
from shared.migrations import quote_ident
from shared.tracing import current_trace_fields


class ConcurrencyError(Exception):
    """The stream was not at the expected version; nothing was written."""

    def __init__(self, stream_id: str, expected: int, actual: int) -> None:
        super().__init__(f"stream at version {actual}, expected {expected}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class Checkpoint(NamedTuple):
    """A position in the global order: (writing transaction id, global position)."""

    tx_id: int = 0
    position: int = 0


@dataclass(frozen=True)
class NewEvent:
    """An event to append, with who caused it and why."""

    event: Event
    actor: Actor
    correlation_id: str
    causation_id: str | None = None
    event_id: UUID = field(default_factory=uuid7)
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class StoredEvent:
    global_position: int
    tx_id: int
    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    occurred_at: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]
    prev_hash: bytes | None
    hash: bytes

    @property
    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.tx_id, self.global_position)

    @property
    def event_name(self) -> str:
        return self.event_type.split(".")[3]

    def to_envelope(self, service: str) -> Envelope:
        return Envelope(
            id=str(self.event_id),
            source=f"safepath/{service}",
            type=self.event_type,
            subject=self.stream_id,
            time=self.occurred_at,
            dataschema=dataschema_for(self.event_type),
            streamversion=self.stream_version,
            correlationid=self.metadata["correlationid"],
            causationid=self.metadata.get("causationid"),
            actor=self.metadata["actor"],
            data=self.data,
            traceparent=self.metadata.get("traceparent"),
            tracestate=self.metadata.get("tracestate"),
        )


# The canonical form and the digests live in shared/digest.py (a verification worker
# imports them without the rest of this module).


_COLUMNS = (
    "global_position, tx_id::text AS tx, event_id, stream_id, stream_version, event_type,"
    " occurred_at, data::text AS data, metadata::text AS metadata, prev_hash, hash"
)


class _Row(NamedTuple):
    """An event ready to insert: its content, hashed once, and its JSON text."""

    event_id: UUID
    stream_id: str
    version: int
    type: str
    at: datetime
    data: dict[str, Any]
    meta: dict[str, Any]
    data_text: str
    meta_text: str
    digest: bytes


def event_row(stream_id: str, version: int, new: NewEvent, clock: Callable[[], datetime]) -> _Row:
    """What is stored for ``new`` at ``version``: content, metadata, time and digest (every
    event store builds its events here, so they hash alike)."""
    ev = new.event
    data = ev.model_dump(mode="json")
    meta: dict[str, Any] = {"actor": new.actor.encode(), "correlationid": new.correlation_id}
    if new.causation_id:
        meta["causationid"] = new.causation_id
    # The trace this append runs in (shared/tracing.py): the relay puts it on the envelope.
    meta.update(current_trace_fields())
    at = (new.occurred_at or clock()).astimezone(UTC)
    type_name = ev.type_name()
    # Encoded once: the same text is hashed and stored (jsonb normalises it anyway).
    data_json, meta_json = canonical_bytes(data), canonical_bytes(meta)
    digest = _json_content_digest(new.event_id, stream_id, version, type_name, at, data_json,
                                  meta_json)  # fmt: skip
    return _Row(new.event_id, stream_id, version, type_name, at, data, meta, data_json.decode(),
                meta_json.decode(), digest)  # fmt: skip


def _stored(rec: asyncpg.Record, row: _Row) -> StoredEvent:
    return StoredEvent(
        global_position=rec["global_position"],
        tx_id=int(rec["tx_id"]),
        event_id=row.event_id,
        stream_id=row.stream_id,
        stream_version=row.version,
        event_type=row.type,
        occurred_at=row.at,
        data=row.data,
        metadata=row.meta,
        prev_hash=rec["prev_hash"],
        hash=rec["hash"],
    )


def _row_to_event(r: asyncpg.Record) -> StoredEvent:
    return StoredEvent(
        global_position=r["global_position"],
        tx_id=int(r["tx"]),
        event_id=r["event_id"],
        stream_id=r["stream_id"],
        stream_version=r["stream_version"],
        event_type=r["event_type"],
        occurred_at=r["occurred_at"],
        data=jsontext.loads(r["data"]),
        metadata=jsontext.loads(r["metadata"]),
        prev_hash=r["prev_hash"],
        hash=r["hash"],
    )


def _utcnow() -> datetime:
    return datetime.now(UTC)


class EventStore:
    """One service's event store: ``shared.eventlog.EventLog`` in Postgres. The store does
    not own the pool (it never closes it)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        service: str,
        *,
        schema: str | None = None,
        registry: Registry = default_registry,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.pool = pool
        self.service = service
        self.schema = schema or service
        self.registry = registry
        self.clock = clock
        self._t = f"{quote_ident(self.schema)}.event"
        self._listeners: list[Callable[[], None]] = []
        self._relays_here = 0
        # Connections (by id, held so no id is reused) whose transaction appended and is
        # watched for its commit: one watch per transaction, however many appends.
        self._awaiting_commit: dict[int, asyncpg.Connection] = {}
        self._telling: asyncio.Task[None] | None = None
        self._tell_again = False
        self._sql_tell = (
            "BEGIN; SET LOCAL synchronous_commit = off;"
            f" NOTIFY {quote_ident(self.appended_channel)}; COMMIT"
        )
        q = self._t
        self._sql_append_one = f"""
            WITH last AS (
                SELECT stream_version, hash FROM {q}
                WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1)
            INSERT INTO {q} (event_id, stream_id, stream_version, event_type, occurred_at,
                             data, metadata, prev_hash, hash)
            SELECT $2, $1, $3, $4, $5, $6::jsonb, $7::jsonb, last.hash,
                   sha256(coalesce(last.hash, ''::bytea) || $8::bytea)
            FROM (SELECT 1) AS one LEFT JOIN last ON true
            WHERE coalesce(last.stream_version, 0) = $3 - 1
            RETURNING global_position, tx_id::text AS tx_id, prev_hash, hash"""
        # A batch in one statement (one round trip, atomic without BEGIN/COMMIT): the
        # chain is folded in SQL, event i hashing onto event i-1, the first onto the
        # stream's last hash; no row is written unless the stream is at version $2.
        self._sql_append_many = f"""
            WITH RECURSIVE
            last AS (
                SELECT stream_version, hash FROM {q}
                WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1),
            new AS (
                SELECT * FROM unnest($3::uuid[], $4::text[], $5::timestamptz[], $6::text[],
                                     $7::text[], $8::bytea[])
                    WITH ORDINALITY AS u(e, t, o, d, m, g, i)),
            chain AS (
                SELECT 0::bigint AS i, NULL::bytea AS prev, (SELECT hash FROM last) AS h
                UNION ALL
                SELECT n.i, c.h, sha256(coalesce(c.h, ''::bytea) || n.g)
                FROM chain AS c JOIN new AS n ON n.i = c.i + 1)
            INSERT INTO {q} (event_id, stream_id, stream_version, event_type, occurred_at,
                             data, metadata, prev_hash, hash)
            SELECT n.e, $1, $2 + n.i::int, n.t, n.o, n.d::jsonb, n.m::jsonb, c.prev, c.h
            FROM new AS n JOIN chain AS c ON c.i = n.i
            WHERE coalesce((SELECT stream_version FROM last), 0) = $2
            ORDER BY n.i
            RETURNING global_position, tx_id::text AS tx_id, stream_version, prev_hash, hash"""
        # The global read (``read_all``): events after a checkpoint, below the oldest
        # transaction still running; and the same with whether a committed event lies at or
        # above that bound (``read_all_held``: one row at least, its event columns null when
        # there is no event to read).
        after = "(tx_id, global_position) > ($1::text::xid8, $2)"
        self._sql_read_all = f"""SELECT {_COLUMNS} FROM {self._t}
            WHERE {after} AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY tx_id, global_position LIMIT $3"""
        self._sql_read_held = f"""
            WITH h AS MATERIALIZED (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS xmin),
            r AS (SELECT {_COLUMNS}, tx_id AS order_tx FROM {self._t}
                  WHERE {after} AND tx_id < (SELECT xmin FROM h)
                  ORDER BY tx_id, global_position LIMIT $3)
            SELECT r.*, EXISTS (SELECT 1 FROM {self._t}
                                WHERE {after} AND tx_id >= (SELECT xmin FROM h)) AS held
            FROM (VALUES (1)) AS one (x) LEFT JOIN r ON true
            ORDER BY r.order_tx, r.global_position"""
        # A new stream's batch: its chain starts from nothing, so it is computed here
        # (``chain_hash``, as the statement above folds it) and the rows are inserted as
        # they are, if the stream has no event yet (else none: ``ConcurrencyError``, the
        # caller's transaction left usable, as above). Two writers starting the same
        # stream at once collide on its first version's unique key, as above.
        self._sql_start_stream = f"""
            INSERT INTO {q} (event_id, stream_id, stream_version, event_type, occurred_at,
                             data, metadata, prev_hash, hash)
            SELECT u.e, $1, u.i::int, u.t, u.o, u.d::jsonb, u.m::jsonb, u.p, u.h
            FROM unnest($2::uuid[], $3::text[], $4::timestamptz[], $5::text[], $6::text[],
                        $7::bytea[], $8::bytea[]) WITH ORDINALITY AS u(e, t, o, d, m, p, h, i)
            WHERE NOT EXISTS (SELECT 1 FROM {q} WHERE stream_id = $1)
            ORDER BY u.i
            RETURNING global_position, tx_id::text AS tx_id, stream_version, prev_hash, hash"""

    @property
    def appended_channel(self) -> str:
        """The Postgres notification channel on which a commit that appended events is
        announced to a relay in another process (``_tell_other_processes``)."""
        return f"safepath_appended_{self.schema}"

    def on_append(self, listener: Callable[[], None], *, relay: bool = False) -> Callable[[], None]:
        """Call ``listener`` once the transaction that appended has committed (never for a
        refused append, nor when the caller's transaction rolls back); returns the call
        that stops it. ``relay=True`` says the listener is this store's relay: while it
        listens, no other process needs to hear of this process's appends, so the store
        sends no ``NOTIFY``."""
        self._listeners.append(listener)
        if relay:
            self._relays_here += 1

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)
                if relay:
                    self._relays_here -= 1

        return stop

    # -- announcing commits ------------------------------------------------------------
    # Not by a NOTIFY inside the appending transaction (migration 0006 says why): after
    # the commit, seen on the connection by asyncpg's query logger (a public hook, called
    # after each statement), or at once when the append was its own transaction.

    def _announce_after_commit(self, c: asyncpg.Connection) -> None:
        if not c.is_in_transaction():
            self._committed()
            return
        if id(c) in self._awaiting_commit:
            return  # one more append in a transaction already watched
        if len(self._awaiting_commit) > 1000:  # transactions that ended unseen (lost
            self._awaiting_commit.clear()  # connections); at worst a commit told twice
        self._awaiting_commit[id(c)] = c

        def logged(q: Any) -> None:  # an asyncpg LoggedQuery
            verb = q.query.strip().rstrip(";").strip().upper()
            if verb not in ("COMMIT", "END", "ROLLBACK", "ABORT"):
                return  # a statement inside the transaction, or a savepoint's end
            c.remove_query_logger(logged)
            self._awaiting_commit.pop(id(c), None)
            # (A COMMIT of a transaction that had failed answers ROLLBACK without an
            # error: announcing it costs the relay one read that finds nothing.)
            if verb in ("COMMIT", "END") and q.exception is None:
                self._committed()

        c.add_query_logger(logged)

    def _committed(self) -> None:
        for listener in list(self._listeners):
            listener()
        if not self._relays_here:
            self._tell_other_processes()

    def _tell_other_processes(self) -> None:
        """``NOTIFY`` the relay of whichever replica holds its lease, in a transaction of
        its own that does not wait for its WAL flush (Postgres still serialises commits
        that notify, but this one holds that lock for microseconds, not an fsync). One at
        a time: appends committed meanwhile are told by one more."""
        if self._telling is not None and not self._telling.done():
            self._tell_again = True
            return
        self._telling = asyncio.get_running_loop().create_task(self._tell())

    async def _tell(self) -> None:
        try:
            while True:
                self._tell_again = False
                async with self.pool.acquire() as c:
                    await c.execute(self._sql_tell)
                if not self._tell_again:
                    return
        except Exception:  # the relay's poll finds the events anyway
            return

    # -- writing -----------------------------------------------------------------------

    def _prepare(self, stream_id: str, version: int, new: NewEvent) -> _Row:
        return event_row(stream_id, version, new, self.clock)

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` to ``stream_id`` if it is at ``expected_version`` (0 = new).

        With ``conn`` the append joins the caller's transaction (the caller commits).
        Raises ``ConcurrencyError`` when the stream moved on; nothing is written then.
        """
        if not events:
            return []
        rows = [self._prepare(stream_id, expected_version + i + 1, e) for i, e in enumerate(events)]
        try:
            if conn is not None:
                stored = await self._append_rows(conn, stream_id, expected_version, rows)
            else:
                async with self.pool.acquire() as c:
                    stored = await self._append_rows(c, stream_id, expected_version, rows)
        except asyncpg.UniqueViolationError as e:
            if "stream_id" not in (e.constraint_name or "") and "stream" not in str(e):
                raise
            actual = await self.stream_version(stream_id)
            raise ConcurrencyError(stream_id, expected_version, actual) from None
        if conn is not None:
            self._announce_after_commit(conn)
        else:
            self._committed()  # the append was its own transaction
        return stored

    async def _append_rows(
        self, c: asyncpg.Connection, stream_id: str, expected: int, rows: list[_Row]
    ) -> list[StoredEvent]:
        if len(rows) == 1:
            (row,) = rows
            r = await c.fetchrow(
                self._sql_append_one,
                row.stream_id, row.event_id, row.version, row.type, row.at,
                row.data_text, row.meta_text, row.digest,
            )  # fmt: skip
            recs = [r] if r is not None else []
        else:
            columns = (
                [r.event_id for r in rows], [r.type for r in rows], [r.at for r in rows],
                [r.data_text for r in rows], [r.meta_text for r in rows],
            )  # fmt: skip
            if expected == 0:  # a new stream: its chain from nothing, computed here
                links: list[bytes | None] = [None]
                for row in rows:
                    links.append(chain_hash(links[-1], row.digest))
                args = (stream_id, *columns, links[:-1], links[1:])
                recs = await c.fetch(self._sql_start_stream, *args)
            else:
                digests = [r.digest for r in rows]
                recs = await c.fetch(self._sql_append_many, stream_id, expected, *columns, digests)
            recs = sorted(recs, key=lambda x: x["stream_version"])
        if not recs:
            actual = await self.stream_version(stream_id, conn=c)
            raise ConcurrencyError(stream_id, expected, actual)
        return [_stored(rec, row) for rec, row in zip(recs, rows, strict=True)]

    # -- reading -----------------------------------------------------------------------

    async def stream_version(
        self, stream_id: str, *, conn: asyncpg.Connection | None = None
    ) -> int:
        sql = f"SELECT coalesce(max(stream_version), 0) FROM {self._t} WHERE stream_id = $1"
        if conn is not None:
            return int(await conn.fetchval(sql, stream_id))
        return int(await self.pool.fetchval(sql, stream_id))

    async def read_stream(
        self,
        stream_id: str,
        *,
        up_to_time: datetime | None = None,
        conn: asyncpg.Connection | None = None,
    ) -> list[StoredEvent]:
        """The stream's events in version order; with ``up_to_time``, those at or before it."""
        sql = f"SELECT {_COLUMNS} FROM {self._t} WHERE stream_id = $1"
        args: list[Any] = [stream_id]
        if up_to_time is not None:
            sql += " AND occurred_at <= $2"
            args.append(up_to_time)
        sql += " ORDER BY stream_version"
        rows = await (conn or self.pool).fetch(sql, *args)
        return [_row_to_event(r) for r in rows]

    async def read_streams(
        self, stream_ids: Collection[str], *, conn: asyncpg.Connection | None = None
    ) -> dict[str, list[StoredEvent]]:
        """Several streams' events in one statement, each in version order; a stream with
        no events is left out."""
        sql = (
            f"SELECT {_COLUMNS} FROM {self._t} WHERE stream_id = ANY($1::text[])"
            " ORDER BY stream_id, stream_version"
        )
        out: dict[str, list[StoredEvent]] = {}
        for r in await (conn or self.pool).fetch(sql, list(stream_ids)):
            e = _row_to_event(r)
            out.setdefault(e.stream_id, []).append(e)
        return out

    async def read_all(
        self,
        after: Checkpoint = Checkpoint(),
        limit: int = 500,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> list[StoredEvent]:
        """Events after ``after`` in global order, only from transactions no longer running."""
        rows = await (conn or self.pool).fetch(
            self._sql_read_all, str(after.tx_id), after.position, limit
        )
        return [_row_to_event(r) for r in rows]

    async def read_all_held(
        self,
        after: Checkpoint = Checkpoint(),
        limit: int = 500,
        *,
        conn: asyncpg.Connection | None = None,
    ) -> tuple[list[StoredEvent], bool]:
        """``read_all``, and in the same statement whether a committed event after
        ``after`` is held back by an older transaction still running anywhere in the
        cluster (it is read once that one ends, and nothing announces that: a reader told
        of a commit it could not read yet looks again soon instead of waiting for the next
        commit)."""
        rows = await (conn or self.pool).fetch(
            self._sql_read_held, str(after.tx_id), after.position, limit
        )
        held = bool(rows[0]["held"])  # one row at least (all its event columns null if none)
        return [_row_to_event(r) for r in rows if r["event_id"] is not None], held

    def load(self, stored: StoredEvent) -> Event:
        """The stored event as its current schema (upcast if it was written by older code)."""
        return self.registry.load(stored.event_type, stored.data)

    # -- checkpoints ---------------------------------------------------------------------

    async def get_checkpoint(
        self, name: str, *, conn: asyncpg.Connection | None = None
    ) -> Checkpoint:
        r = await (conn or self.pool).fetchrow(
            f"SELECT tx_id::text AS tx_id, position FROM {quote_ident(self.schema)}.checkpoint"
            " WHERE name = $1",
            name,
        )
        return Checkpoint(int(r["tx_id"]), r["position"]) if r else Checkpoint()

    async def save_checkpoint(
        self, name: str, cp: Checkpoint, *, conn: asyncpg.Connection | None = None
    ) -> None:
        await (conn or self.pool).execute(
            f"""INSERT INTO {quote_ident(self.schema)}.checkpoint (name, tx_id, position)
                VALUES ($1, $2::text::xid8, $3)
                ON CONFLICT (name) DO UPDATE
                SET tx_id = excluded.tx_id, position = excluded.position, updated_at = now()""",
            name,
            str(cp.tx_id),
            cp.position,
        )

    async def oldest_open_transaction_seconds(self) -> float:
        """Age of the oldest transaction holding an xid: what delays global readers."""
        v = await self.pool.fetchval(
            "SELECT coalesce(extract(epoch FROM clock_timestamp() - min(xact_start)), 0)"
            " FROM pg_stat_activity WHERE backend_xid IS NOT NULL"
        )
        return float(v)
