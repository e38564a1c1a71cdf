"""``audit verify``: every chain, every checkpoint signature, consistency between them.

The trust anchor is the checkpoints published on JetStream (a stream that refuses
deletion), signed with a key the database never holds. Verification recomputes each
event's hash from its content, the Merkle leaves from those hashes in global order, and
the tree root at every checkpoint; it names every event changed, removed or moved.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from shared.chain import COLUMNS, ChainBreak, each_batch, row_digest, verify_chains
from shared.digest import chain_hash, content_digest
from shared.merkle import consistency_proof, verify_consistency
from shared.migrations import quote_ident
from shared.recovery import LIST_LIMIT, TRACE_FIELDS, Comparison, Published, compare, rebuild
from shared.sealer import Frontier, event_leaf, verify_signature
from shared.signatures import BadSignature, EventVerifier

SignedCheckpoint = tuple[dict[str, Any], bytes]


@dataclass
class AuditReport:
    service: str
    events: int = 0
    streams: int = 0
    checkpoints: int = 0
    chain_breaks: list[ChainBreak] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Foreign events in the case timeline: signature checked again / recorded unsigned.
    signed_events_verified: int | None = None
    unsigned_events: int | None = None
    # The directory events the case service kept for its statistics (migration 0017), the
    # same way; unsigned: carried over from before it kept them.
    directory_events_verified: int | None = None
    directory_events_unsigned: int | None = None
    # The store against the service's JetStream stream (shared/recovery.py), when read.
    stream: Comparison | None = None
    changed_since_published: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.chain_breaks and not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "ok": self.ok,
            "events": self.events,
            "streams": self.streams,
            "checkpoints_verified": self.checkpoints,
            "chain_breaks": [b.__dict__ for b in self.chain_breaks],
            "problems": self.problems,
            **(
                {
                    "published": self.stream.summary()
                    | {"changed_since_published": self.changed_since_published}
                }
                if self.stream is not None
                else {}
            ),
            **(
                {
                    "timeline_signatures_verified": self.signed_events_verified,
                    "timeline_unsigned_before_signing": self.unsigned_events,
                }
                if self.signed_events_verified is not None
                else {}
            ),
            **(
                {
                    "directory_signatures_verified": self.directory_events_verified,
                    "directory_unsigned_carried_over": self.directory_events_unsigned,
                }
                if self.directory_events_verified is not None
                else {}
            ),
        }


async def published_checkpoints(
    js: JetStreamContext, stream: str, namespace: str, service: str
) -> list[SignedCheckpoint]:
    """Checkpoints of ``service`` from the audit stream, oldest first."""
    subject = f"{namespace}.audit.{service}.checkpoint"
    try:
        info = await js.stream_info(stream)
    except NotFoundError:
        return []
    out: dict[int, SignedCheckpoint] = {}
    if not info.state.messages:
        return []
    for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq)
        except NotFoundError:
            continue
        if msg.subject != subject or not msg.data:
            continue
        doc = json.loads(msg.data)
        body = doc["checkpoint"]
        out[int(body["tree_size"])] = (body, base64.b64decode(doc["signature"]))
    return [out[k] for k in sorted(out)]


async def stored_checkpoints(pool: asyncpg.Pool, schema: str) -> list[SignedCheckpoint]:
    rows = await pool.fetch(
        f"SELECT body::text AS b, signature FROM {quote_ident(schema)}.merkle_checkpoint"
        " ORDER BY tree_size"
    )
    return [(json.loads(r["b"]), r["signature"]) for r in rows]


async def verify_service(
    pool: asyncpg.Pool,
    schema: str,
    *,
    public_key: str,
    checkpoints: list[SignedCheckpoint],
    stream_id: str | None = None,
    verifier: EventVerifier | None = None,
    published: tuple[str, list[Published]] | None = None,
    workers: int = 1,
    dsn: str | None = None,
) -> AuditReport:
    """Verify one service's store. With ``stream_id``, only that stream's chain. With
    ``verifier``, also the signatures of the other services' events the case timeline
    recorded (the case service's store only). With ``published`` (the service's stream
    name and its messages, ``shared.recovery.read_published``), also name the events the
    stream holds and the store lacks, and those the store holds differently. With
    ``workers`` and ``dsn``, the chains of a large store are hashed by that many processes
    (``shared.chain.verify_chains``)."""
    # The chain pass keeps each event's digest, so the leaves need not hash it again (in
    # a store too large to keep them all, the leaves pass hashes every event itself).
    known: dict[bytes, bytes] | None = {} if stream_id is None else None
    chains = await verify_chains(
        pool, schema, stream_id=stream_id, digests=known, workers=workers, dsn=dsn
    )
    if known is not None and len(known) < chains.events:
        known = None
    report = AuditReport(schema, chains.events, chains.streams, chain_breaks=list(chains.breaks))
    if verifier is not None and schema == "case":
        await verify_timeline_signatures(pool, verifier, report, case_id=stream_id)
        if stream_id is None:
            await verify_directory_signatures(pool, verifier, report)
    if stream_id is not None:
        return report
    digests: dict[str, tuple[bytes, dict[str, Any]]] | None = {} if published else None
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        leaves, ids = await store_leaves(conn, schema, digests, known=known)
    del known
    await _compare_recorded_leaves(pool, schema, leaves, ids, report)
    if published is not None and digests is not None:
        stream_name, messages = published
        report.stream = compare(stream_name, messages, ids)
        report.problems.extend(report.stream.problems(schema))
        _compare_published(messages, digests, report)
    check_checkpoints(checkpoints, leaves, ids, public_key, report)
    return report


async def store_leaves(
    conn: asyncpg.Connection,
    schema: str,
    digests: dict[str, tuple[bytes, dict[str, Any]]] | None = None,
    *,
    known: Mapping[bytes, bytes] | None = None,
) -> tuple[list[bytes], list[str]]:
    """The Merkle leaves of the store and their event ids, in global order (inside the
    caller's transaction). With ``digests``, also each event's content digest and trace
    fields by id. With ``known`` (content digests by event id's bytes, recomputed from
    content by ``verify_chains``), only the events it lacks are read whole and hashed."""
    leaves: list[bytes] = []
    ids: list[str] = []
    table = f"{quote_ident(schema)}.event"
    meta = ", metadata::text AS metadata" if digests is not None else ""
    if known is None:
        sql = f"SELECT {COLUMNS} FROM {table} ORDER BY tx_id, global_position"
    else:
        sql = f"SELECT event_id, prev_hash{meta} FROM {table} ORDER BY tx_id, global_position"
    unknown: list[int] = []  # leaves of events appended since ``known`` was made

    def hash_leaves(rows: list[Any]) -> None:
        for r in rows:
            eid = r["event_id"]
            if known is None:
                digest = row_digest(r, r["stream_version"])
            elif (held := known.get(eid.bytes)) is not None:
                digest = held
            else:
                unknown.append(len(leaves))
                digest = b""
            # Leaves use the hash recomputed from content, so a row whose content and
            # stored hash were both rewritten still changes the tree.
            leaves.append(event_leaf(eid, chain_hash(r["prev_hash"], digest)))
            ids.append(str(eid))
            if digests is not None:
                metadata = json.loads(r["metadata"])
                trace = {k: metadata[k] for k in TRACE_FIELDS if k in metadata}
                digests[ids[-1]] = (digest, trace)

    await each_batch(await conn.cursor(sql), hash_leaves)
    if unknown:
        rows = await conn.fetch(
            f"SELECT {COLUMNS} FROM {table} WHERE event_id = ANY($1::uuid[])",
            [ids[i] for i in unknown],
        )
        by_id = {str(r["event_id"]): r for r in rows}
        for i in unknown:
            r = by_id[ids[i]]
            digest = row_digest(r, r["stream_version"])
            leaves[i] = event_leaf(r["event_id"], chain_hash(r["prev_hash"], digest))
            if digests is not None:
                digests[ids[i]] = (digest, digests[ids[i]][1])
    return leaves, ids


def _compare_published(
    messages: list[Published],
    digests: dict[str, tuple[bytes, dict[str, Any]]],
    report: AuditReport,
) -> None:
    """Each event both hold: does the stored content say what was published? (The trace
    fields may differ: the relay publishes in its own span when traces are exported.)"""
    changed = 0
    for p in messages:
        held = digests.get(p.event_id)
        if held is None:
            continue
        digest, trace = held
        try:
            row = rebuild(p.doc())
        except ValueError:
            continue  # not an envelope of ours; the consumers dead-letter it
        meta = {k: v for k, v in row.metadata.items() if k not in TRACE_FIELDS} | trace
        if content_digest(
            row.event_id, row.stream_id, row.stream_version, row.event_type,
            row.occurred_at, row.data, meta,
        ) == digest:  # fmt: skip
            continue
        changed += 1
        if len(report.changed_since_published) < LIST_LIMIT:
            report.changed_since_published.append({"stream_seq": p.seq, **row.describe()})
    if changed:
        first = report.changed_since_published[0]
        report.problems.append(
            f"{changed} events in the store differ from what was published (first: event"
            f" {first['event_id']}, stream seq {first['stream_seq']}): changed in the store"
        )


async def _compare_recorded_leaves(
    pool: asyncpg.Pool, schema: str, leaves: list[bytes], ids: list[str], report: AuditReport
) -> None:
    rows = await pool.fetch(
        f"SELECT leaf_index, event_id, leaf_hash FROM {quote_ident(schema)}.merkle_leaf"
        " ORDER BY leaf_index"
    )
    for r in rows:
        i = r["leaf_index"]
        if i >= len(leaves):
            report.problems.append(
                f"event {r['event_id']} (leaf {i}) was sealed but is no longer in the store"
            )
            return
        if str(r["event_id"]) != ids[i]:
            report.problems.append(
                f"leaf {i}: sealed event {r['event_id']} but the store now has {ids[i]} there"
                " (an event was removed or the order changed)"
            )
            return
        if r["leaf_hash"] != leaves[i]:
            report.problems.append(f"event {ids[i]} (leaf {i}) changed after it was sealed")
            return


def check_checkpoints(
    checkpoints: list[SignedCheckpoint],
    leaves: list[bytes],
    ids: list[str],
    public_key: str,
    report: AuditReport,
) -> None:
    """Every signed checkpoint against the leaves: signature, root, consistency."""
    frontier = Frontier([])
    previous: dict[str, Any] | None = None
    for body, signature in checkpoints:
        size = int(body["tree_size"])
        if not verify_signature(public_key, body, signature):
            report.problems.append(f"checkpoint of size {size}: signature does not verify")
            return
        if size > len(leaves):
            latest = int(checkpoints[-1][0]["tree_size"])
            behind = (
                f"signed checkpoint of size {latest} on the audit stream is ahead of the"
                f" store by {latest - len(leaves)} leaves"
            )
            if report.stream is not None and report.stream.missing and not report.stream.removed:
                report.problems.append(
                    f"{behind} (the store holds {len(leaves)} events): the store is behind"
                    " (restored from a backup?); the stream holds the missing events"
                )
            else:
                report.problems.append(
                    f"checkpoint of size {size} covers more events than the store holds"
                    f" ({len(leaves)}): events were removed; {behind}"
                )
            return
        while frontier.size < size:
            frontier.add(leaves[frontier.size])
        if frontier.root().hex() != body["root"]:
            report.problems.append(
                f"checkpoint of size {size}: the events do not hash to its signed root;"
                f" an event among leaves {int(previous['tree_size']) if previous else 0}"
                f"..{size - 1} was changed, removed or reordered"
            )
            return
        if previous is not None:
            old = int(previous["tree_size"])
            proof = consistency_proof(leaves, old, size)
            if not verify_consistency(
                old, size, bytes.fromhex(previous["root"]), bytes.fromhex(body["root"]), proof
            ):
                report.problems.append(f"checkpoints {old} and {size} are not consistent")
                return
        report.checkpoints += 1
        previous = body


_MISSING = object()


# Whether a recorded row still says what its verified, signed envelope said: the row, the
# envelope's document and the service that signed it.
RowMatches = Callable[[asyncpg.Record, Any, str], bool]


async def _verify_signed_rows(
    pool: asyncpg.Pool,
    verifier: EventVerifier,
    report: AuditReport,
    label: Callable[[asyncpg.Record], str],
    matches: RowMatches,
    sql: str,
    *args: object,
) -> tuple[int, int]:
    """Check again the signed envelope each row of ``sql`` kept: its signature, then
    ``matches``; a problem named by ``label`` for each row that fails. The rows verified and
    the rows recorded without an envelope."""
    verified = unsigned = 0
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        async for r in conn.cursor(sql, *args, prefetch=2000):
            if r["envelope"] is None:
                unsigned += 1
                continue
            try:
                doc = json.loads(r["envelope"])
                service = verifier.verify_doc(doc)
            except (ValueError, BadSignature) as e:
                report.problems.append(f"{label(r)}: {e}")
                continue
            if not matches(r, doc, service):
                report.problems.append(f"{label(r)}: the row differs from the signed event")
                continue
            verified += 1
    return verified, unsigned


def _timeline_row_matches(r: asyncpg.Record, doc: Any, service: str) -> bool:
    recorded = (r["event_id"], r["service"], r["event_type"], r["actor"])
    signed = (doc.get("id"), service, doc.get("type"), doc.get("actor"))
    # The row may keep less than was signed (notify's payload stays in notify's
    # record), never anything else.
    data, signed_data = json.loads(r["data"]), doc.get("data")
    return not (
        recorded != signed
        or not isinstance(signed_data, dict)
        or any(signed_data.get(k, _MISSING) != v for k, v in data.items())
    )


async def verify_timeline_signatures(
    pool: asyncpg.Pool, verifier: EventVerifier, report: AuditReport, case_id: str | None = None
) -> None:
    """Check again each foreign event the case timeline recorded: its signature, and that
    the recorded row (id, service, type, actor, data) still says what the signed event said."""
    sql = (
        "SELECT event_id::text AS event_id, service, event_type, actor, data::text AS data,"
        ' envelope FROM "case".case_timeline WHERE service <> $1'
        " AND ($2::text IS NULL OR case_id = $2) ORDER BY seq"
    )
    report.signed_events_verified, report.unsigned_events = await _verify_signed_rows(
        pool,
        verifier,
        report,
        lambda r: f"timeline event {r['event_id']}",
        _timeline_row_matches,
        sql,
        "case",
        case_id,
    )


def _directory_row_matches(r: asyncpg.Record, doc: Any, service: str) -> bool:
    data = doc.get("data")
    provider = data.get("provider") if isinstance(data, dict) else None
    signed = (
        doc.get("id"),
        service,
        provider.get("id") if isinstance(provider, dict) else None,
        provider.get("org_type") if isinstance(provider, dict) else None,
        doc.get("streamversion"),
    )
    return signed == (r["event_id"], "referral", r["provider_id"], r["org_type"], r["version"])


async def verify_directory_signatures(
    pool: asyncpg.Pool, verifier: EventVerifier, report: AuditReport
) -> None:
    """Check again each directory event the case service kept for its statistics
    (``"case".received_directory_event``): its signature, that the referral service signed
    it, and that the row (id, provider, kind, version) still says what the event said."""
    sql = (
        "SELECT event_id::text AS event_id, provider_id, org_type, version, envelope"
        ' FROM "case".received_directory_event ORDER BY provider_id, version'
    )
    report.directory_events_verified, report.directory_events_unsigned = await _verify_signed_rows(
        pool,
        verifier,
        report,
        lambda r: f"directory event {r['provider_id']} v{r['version']}",
        _directory_row_matches,
        sql,
    )
