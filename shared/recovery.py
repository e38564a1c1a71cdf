"""After a restore: compare a service's store with its JetStream stream, and bring back
what the stream holds and the store lost.

The relay publishes every event, in global order, as a signed CloudEvent with
``Nats-Msg-Id`` = event id, so the stream holds a copy of every relayed event from which
each stored field but ``global_position`` and ``tx_id`` can be rebuilt (the stored
``metadata`` is the envelope's actor, correlationid, causationid, traceparent and
tracestate). A store restored from a backup lacks the events written after the backup;
the stream still has them.

``compare`` says what differs (for ``safepath audit verify``); ``recover`` (``safepath
recover``) inserts the events the store lacks, in stream order, each checked before it
is written:

- its signature verifies with the service's public key, on the service's subject and
  stream;
- it is the next version of its stream, chained onto the previous event of that stream
  (whose own hash is recomputed first); the hash is recomputed from the content;
- the store with the recovered events hashes to every signed checkpoint on the audit
  stream (the Merkle leaves continue in the same global order as before the restore).

Any failure refuses the whole recovery and writes nothing; nothing is ever overwritten.
A second run finds nothing to insert. It runs while the service is stopped (it refuses
while the service is connected to the database) and holds an EXCLUSIVE lock on the
event table while it writes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.digest import chain_hash, content_digest
from shared.migrations import quote_ident
from shared.signatures import BadSignature, EventVerifier

# How many event ids a report lists; the counts are always complete.
LIST_LIMIT = 20
TRACE_FIELDS = ("traceparent", "tracestate")


@dataclass(frozen=True)
class Published:
    """One message of a service's stream, as the relay published it."""

    seq: int
    event_id: str
    subject: str
    raw: bytes

    def doc(self) -> dict[str, Any]:
        value = json.loads(self.raw)
        if not isinstance(value, dict):
            raise ValueError("not a JSON object")
        return value


async def read_published(js: JetStreamContext, stream: str) -> list[Published]:
    """The stream's messages in order, one per event id (the first, if one was doubled).
    Messages without an event id as their ``Nats-Msg-Id`` are not the relay's: skipped."""
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    out: list[Published] = []
    seen: set[str] = set()
    if not info.state.messages:
        return out
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        try:
            event_id = str(UUID((msg.headers or {}).get("Nats-Msg-Id", "")))
        except ValueError:
            continue
        if event_id in seen or not msg.data:
            continue
        seen.add(event_id)
        out.append(Published(seq, event_id, msg.subject or "", msg.data))
    return out


@dataclass(frozen=True)
class Rebuilt:
    """The stored row an envelope stands for (all but global_position and tx_id)."""

    event_id: UUID
    stream_id: str
    stream_version: int
    event_type: str
    occurred_at: datetime
    data: dict[str, Any]
    metadata: dict[str, Any]

    @property
    def digest(self) -> bytes:
        return content_digest(
            self.event_id,
            self.stream_id,
            self.stream_version,
            self.event_type,
            self.occurred_at,
            self.data,
            self.metadata,
        )

    def describe(self) -> dict[str, Any]:
        """Safe to print: ids, stream, version and type only (never data or actor)."""
        return {
            "event_id": str(self.event_id),
            "stream_id": self.stream_id,
            "stream_version": self.stream_version,
            "type": self.event_type,
        }


def rebuild(doc: Mapping[str, Any]) -> Rebuilt:
    """The row of a published envelope; ValueError when it is not one of ours."""
    from shared.envelope import Envelope

    env = Envelope.model_validate({k: v for k, v in doc.items()})
    meta: dict[str, Any] = {"actor": env.actor, "correlationid": env.correlationid}
    if env.causationid:
        meta["causationid"] = env.causationid
    for k in TRACE_FIELDS:
        if v := getattr(env, k):
            meta[k] = v
    return Rebuilt(
        UUID(env.id),
        env.subject,
        env.streamversion,
        env.type,
        env.time,
        env.data,
        meta,
    )


def _entry(p: Published, doc: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Safe to print: the stream sequence, event id, stream, version and type."""
    d = doc if doc is not None else _safe_doc(p)
    return {
        "stream_seq": p.seq,
        "event_id": p.event_id,
        "stream_id": d.get("subject"),
        "stream_version": d.get("streamversion"),
        "type": d.get("type"),
    }


def _safe_doc(p: Published) -> dict[str, Any]:
    try:
        return p.doc()
    except ValueError:
        return {}


@dataclass
class Comparison:
    """The store against its stream, by event id."""

    stream: str
    published: int = 0
    stored: int = 0
    # On the stream, not in the store, after the last event both hold: lost by a restore,
    # recoverable from the stream.
    missing: list[Published] = field(default_factory=list)
    # On the stream, not in the store, before an event both hold: removed from the store.
    removed: list[Published] = field(default_factory=list)
    # In the store, not on the stream: not yet relayed (or written after a restore).
    unpublished: int = 0

    def problems(self, service: str) -> list[str]:
        out: list[str] = []
        if self.missing:
            first, last = self.missing[0], self.missing[-1]
            out.append(
                f"the store holds {self.stored} events; the stream {self.stream} holds"
                f" {len(self.missing)} more (stream seq {first.seq}..{last.seq}, events"
                f" {first.event_id}..{last.event_id}): missing from the store, recoverable"
                f" from the stream with `safepath recover --service {service}`"
            )
        if self.removed:
            out.append(
                f"{len(self.removed)} events on the stream {self.stream} are not in the store"
                " although later events are (removed from the store; first: stream seq"
                f" {self.removed[0].seq}, event {self.removed[0].event_id})"
            )
        return out

    def summary(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "stream_events": self.published,
            "store_events": self.stored,
            "missing_from_store": len(self.missing),
            "missing": [_entry(p) for p in self.missing[:LIST_LIMIT]],
            "removed_from_store": len(self.removed),
            "removed": [_entry(p) for p in self.removed[:LIST_LIMIT]],
            "not_yet_on_stream": self.unpublished,
        }


def compare(stream: str, published: list[Published], store_ids: list[str]) -> Comparison:
    """Which of the stream's events the store lacks, and where (``store_ids`` in global
    order)."""
    held = set(store_ids)
    last_held = -1
    for i, p in enumerate(published):
        if p.event_id in held:
            last_held = i
    on_stream = {p.event_id for p in published}
    c = Comparison(stream, len(published), len(store_ids))
    for i, p in enumerate(published):
        if p.event_id not in held:
            (c.removed if i < last_held else c.missing).append(p)
    c.unpublished = sum(1 for e in store_ids if e not in on_stream)
    return c


# -- recovery --------------------------------------------------------------------------


class RecoveryRefused(Exception):
    """Recovery found something it must not paper over; nothing was written."""


@dataclass
class RecoveryReport:
    service: str
    stream: str
    inserted: list[Rebuilt] = field(default_factory=list)
    refused: str | None = None
    dry_run: bool = False
    checkpoints_verified: int = 0

    @property
    def ok(self) -> bool:
        return self.refused is None

    def summary(self) -> dict[str, Any]:
        streams = {e.stream_id for e in self.inserted}
        return {
            "service": self.service,
            "ok": self.ok,
            "stream": self.stream,
            ("would_insert" if self.dry_run else "inserted"): len(self.inserted),
            "streams": len(streams),
            "events": [e.describe() for e in self.inserted[:LIST_LIMIT]],
            "checkpoints_verified": self.checkpoints_verified,
            **({"refused": self.refused} if self.refused else {}),
        }


async def service_connections(pool: asyncpg.Pool, service: str) -> int:
    """Sessions of the running service in this database (its pool names itself)."""
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
            " AND datname = current_database()",
            f"safepath-{service}",
        )
    )


_ROW = (
    "event_id, stream_id, stream_version, event_type, occurred_at, data::text AS data,"
    " metadata::text AS metadata, prev_hash, hash"
)


def _stored_hash_holds(r: Mapping[str, Any]) -> bool:
    digest = content_digest(
        r["event_id"],
        r["stream_id"],
        r["stream_version"],
        r["event_type"],
        r["occurred_at"],
        json.loads(r["data"]),
        json.loads(r["metadata"]),
    )
    return bool(chain_hash(r["prev_hash"], digest) == r["hash"])


async def recover(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    *,
    service: str,
    stream: str,
    verifier: EventVerifier,
    public_key: str,
    checkpoints: list[tuple[dict[str, Any], bytes]],
    schema: str | None = None,
    dry_run: bool = False,
    allow_running: bool = False,
) -> RecoveryReport:
    """Insert every event of ``stream`` the store of ``service`` lacks (see the module)."""
    report = RecoveryReport(service, stream, dry_run=dry_run)
    try:
        await _recover(
            pool, js, report, schema or service, verifier, public_key, checkpoints,
            allow_running=allow_running,
        )  # fmt: skip
    except RecoveryRefused as e:
        report.refused = str(e)
        report.inserted = []
    return report


class _Rollback(Exception):
    pass


async def _recover(
    pool: asyncpg.Pool,
    js: JetStreamContext,
    report: RecoveryReport,
    schema: str,
    verifier: EventVerifier,
    public_key: str,
    checkpoints: list[tuple[dict[str, Any], bytes]],
    *,
    allow_running: bool,
) -> None:
    from shared.audit import AuditReport, check_checkpoints, store_leaves
    from shared.sealer import event_leaf

    service, stream = report.service, report.stream
    if not allow_running and await service_connections(pool, service):
        raise RecoveryRefused(
            f"the {service} service is connected to the database: stop it (every replica)"
            " before recovering"
        )
    published = await read_published(js, stream)
    t = f"{quote_ident(schema)}.event"
    try:
        async with pool.acquire() as conn, conn.transaction():
            # No other writer while the store is checked and extended (readers may read).
            await conn.execute(f"LOCK TABLE {t} IN EXCLUSIVE MODE")
            store_ids = [
                str(r["event_id"])
                for r in await conn.fetch(
                    f"SELECT event_id FROM {t} ORDER BY tx_id, global_position"
                )
            ]
            c = compare(stream, published, store_ids)
            if c.removed:
                raise RecoveryRefused(
                    "; ".join(c.problems(service)[-1:])
                    + ": these are not a lost tail, recovery would reorder the store"
                )
            if not c.missing:
                return
            if c.unpublished:
                raise RecoveryRefused(
                    f"the store holds {c.unpublished} events the stream does not (written"
                    " after the restore, or never relayed): the recovered events would be"
                    " ordered after them. Restore the backup again and recover before"
                    " starting the services"
                )
            behind = await conn.fetchval(
                f"SELECT pg_current_xact_id() <= coalesce(max(tx_id), '0'::xid8) FROM {t}"
            )
            if behind:
                raise RecoveryRefused(
                    "this database's transaction ids are behind those stored with the events"
                    " (restored into a new cluster from a logical dump): new events would be"
                    " ordered before old ones. Advance the cluster's transaction id epoch"
                    " (stopped server: `pg_resetwal -e <epoch + 1>`) and run recover again"
                )
            rows = await _rebuild_missing(conn, t, c.missing, verifier, service, stream)
            # The store with these events must hash to every signed checkpoint.
            leaves, ids = await store_leaves(conn, schema)
            for r, h in rows:
                leaves.append(event_leaf(r.event_id, h[1]))
                ids.append(str(r.event_id))
            audit = AuditReport(service)
            check_checkpoints(checkpoints, leaves, ids, public_key, audit)
            if audit.problems:
                raise RecoveryRefused(
                    "the store with the recovered events does not match the signed"
                    f" checkpoints: {audit.problems[0]}"
                )
            report.checkpoints_verified = audit.checkpoints
            report.inserted = [r for r, _ in rows]
            if report.dry_run:
                raise _Rollback
            await conn.executemany(
                f"INSERT INTO {t} (event_id, stream_id, stream_version, event_type,"
                " occurred_at, data, metadata, prev_hash, hash)"
                " VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)",
                [
                    (
                        r.event_id,
                        r.stream_id,
                        r.stream_version,
                        r.event_type,
                        r.occurred_at,
                        json.dumps(r.data),
                        json.dumps(r.metadata),
                        prev,
                        h,
                    )
                    for r, (prev, h) in rows
                ],
            )
    except _Rollback:
        pass


async def _rebuild_missing(
    conn: asyncpg.Connection,
    t: str,
    missing: list[Published],
    verifier: EventVerifier,
    service: str,
    stream: str,
) -> list[tuple[Rebuilt, tuple[bytes | None, bytes]]]:
    """Each missing event verified, rebuilt and chained: (row, (prev_hash, hash))."""
    heads: dict[str, tuple[int, bytes | None]] = {}
    out: list[tuple[Rebuilt, tuple[bytes | None, bytes]]] = []
    for p in missing:
        try:
            verifier.verify(p.raw, subject=p.subject, stream=stream)
            doc = p.doc()
            if doc.get("source") != f"safepath/{service}" or doc.get("id") != p.event_id:
                raise BadSignature("not an event of this service under its own id")
            row = rebuild(doc)
        except (BadSignature, ValueError) as e:
            reason = str(e) if isinstance(e, BadSignature) else "not a valid event envelope"
            raise RecoveryRefused(f"stream seq {p.seq} (event {p.event_id}): {reason}") from None
        if row.stream_id not in heads:
            last = await conn.fetchrow(
                f"SELECT {_ROW} FROM {t} WHERE stream_id = $1 ORDER BY stream_version DESC LIMIT 1",
                row.stream_id,
            )
            if last is not None and not _stored_hash_holds(last):
                raise RecoveryRefused(
                    f"stream {row.stream_id!r} version {last['stream_version']} (event"
                    f" {last['event_id']}) does not match its hash: run `safepath audit"
                    " verify`; nothing is chained onto a changed event"
                )
            heads[row.stream_id] = (
                (last["stream_version"], last["hash"]) if last is not None else (0, None)
            )
        version, prev = heads[row.stream_id]
        if row.stream_version != version + 1:
            raise RecoveryRefused(
                f"stream seq {p.seq} (event {p.event_id}): stream {row.stream_id!r} is at"
                f" version {version} in the store, the event is version {row.stream_version}"
                " (a version conflict: the store moved on differently)"
            )
        h = chain_hash(prev, row.digest)
        heads[row.stream_id] = (row.stream_version, h)
        out.append((row, (prev, h)))
    return out
