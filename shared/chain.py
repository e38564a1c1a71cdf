"""Verifying per-stream hash chains: name every event changed, removed or reordered."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import re
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.digest import chain_hash, stored_content_digest
from shared.migrations import quote_ident


@dataclass(frozen=True)
class ChainBreak:
    """One place a stream's chain does not hold."""

    stream_id: str
    stream_version: int
    event_id: str | None
    kind: str  # "changed" | "missing" | "reordered"
    detail: str


@dataclass(frozen=True)
class ChainReport:
    streams: int
    events: int
    breaks: list[ChainBreak]

    @property
    def ok(self) -> bool:
        return not self.breaks

    @property
    def first(self) -> ChainBreak | None:
        return self.breaks[0] if self.breaks else None


# The columns a chain check reads, in the order ``_StreamCheck.feed`` unpacks them. Data
# and metadata come as jsonb's text in UTF-8 bytes (bytea): what orjson parses, without
# decoding to str and encoding again.
COLUMNS = (
    "event_id, stream_id, stream_version, event_type, occurred_at,"
    " convert_to(data::text, 'UTF8') AS data, convert_to(metadata::text, 'UTF8') AS metadata,"
    " prev_hash, hash"
)
# Rows fetched per round trip: a list per batch costs less than a row per ``async for``;
# a batch that fits the socket's buffer is sent whole while the one before is hashed.
FETCH_BATCH = 500
# verify_chains keeps at most this many digests for the leaves (about 170 bytes each).
DIGESTS_KEPT = 1_000_000


async def each_batch(
    cursor: asyncpg.cursor.Cursor[Any], work: Callable[[list[Any]], None], batch: int = FETCH_BATCH
) -> None:
    """``work`` each batch of ``cursor``'s rows in order, the next batch asked for before
    ``work`` starts: the database reads and sends it while this process hashes the one
    before (on two cores the two overlap instead of taking turns)."""
    rows = await cursor.fetch(batch)
    while rows:
        ahead = asyncio.ensure_future(cursor.fetch(batch))
        await asyncio.sleep(0)  # the request is sent before ``work`` holds the loop
        try:
            work(rows)
        except BaseException:
            # The connection takes no other statement until this one is answered.
            with contextlib.suppress(BaseException):
                await ahead
            raise
        rows = await ahead


def row_digest(r: Any, version: int) -> bytes:
    """The content digest of a row of ``COLUMNS`` as if it stood at ``version``."""
    return stored_content_digest(
        r["event_id"],
        r["stream_id"],
        version,
        r["event_type"],
        r["occurred_at"],
        r["data"],
        r["metadata"],
    )


class _StreamCheck:
    """Walks one stream in version order and names every break, not only the first.

    After a break it picks the chain up again at the row it stopped on (its stored hash
    becomes the link the next row must carry), so each later event is judged on its own:
    swapping the data of two events names both, a removed event is named once.
    """

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        self.expected_version = 1
        self.prev_hash: bytes | None = None
        self.breaks: list[ChainBreak] = []
        self._last_row_named = False  # the row before was itself named as a break

    def feed(self, r: Any, digests: dict[bytes, bytes] | None = None) -> None:
        named_before = len(self.breaks)
        # A row of ``COLUMNS``, unpacked by position: per event, cheaper than a lookup by
        # name for each column.
        event_id, stream_id, v, event_type, occurred_at, data, metadata, prev_hash, stored = r
        if v != self.expected_version:
            self.breaks.append(
                ChainBreak(
                    self.stream_id,
                    self.expected_version,
                    None,
                    "missing",
                    f"versions {self.expected_version}..{v - 1} are missing"
                    f" before event {event_id}",
                )
            )
            self.prev_hash = prev_hash  # the gap is named; judge this row on its own
        digest = stored_content_digest(
            event_id, stream_id, v, event_type, occurred_at, data, metadata
        )
        if digests is not None:
            digests[event_id.bytes] = digest
        if chain_hash(prev_hash, digest) != stored:
            moved_from = self._original_version(r)
            if moved_from is not None:
                self.breaks.append(
                    ChainBreak(
                        self.stream_id,
                        v,
                        str(event_id),
                        "reordered",
                        f"event was written at version {moved_from}, now stands at {v}",
                    )
                )
            else:
                self.breaks.append(
                    ChainBreak(
                        self.stream_id,
                        v,
                        str(event_id),
                        "changed",
                        "content does not match its hash",
                    )
                )
        elif prev_hash != self.prev_hash and not self._last_row_named:
            # (A link broken only because the row before was itself named - moved or
            # changed - is that row's break, not a second one.)
            self.breaks.append(
                ChainBreak(
                    self.stream_id,
                    v,
                    str(event_id),
                    "reordered",
                    "previous-hash link does not match the event before it"
                    " (an event before it was removed, replaced or moved)",
                )
            )
        self._last_row_named = len(self.breaks) > named_before
        self.prev_hash = stored
        self.expected_version = v + 1

    @staticmethod
    def _original_version(r: Any) -> int | None:
        # Only on failure: does the row verify at another version? Then it was moved.
        v = r["stream_version"]
        for w in range(max(1, v - 64), v + 65):
            if w != v and chain_hash(r["prev_hash"], row_digest(r, w)) == r["hash"]:
                return w
        return None


async def verify_chains(
    pool: asyncpg.Pool,
    schema: str,
    *,
    stream_id: str | None = None,
    batch: int = FETCH_BATCH,
    digests: dict[bytes, bytes] | None = None,
    workers: int = 1,
    dsn: str | None = None,
) -> ChainReport:
    """Recompute every hash of ``schema``'s streams (or one stream). With ``digests``, also
    keep each event's content digest there by event id (``UUID.bytes``), for at most
    ``DIGESTS_KEPT`` events (``shared.audit.store_leaves`` builds the Merkle leaves from
    them instead of hashing every event again).

    With ``workers`` above one and ``dsn`` (the database to connect to), a store of at
    least ``PARALLEL_FROM`` events is split into ranges of stream ids, each verified by
    its own process on its own connection, all reading one snapshot: the report is the
    one a single process gives, breaks in the same order."""
    t = f"{quote_ident(schema)}.event"
    if stream_id is not None:
        where, args = "WHERE stream_id = $1", [stream_id]
    else:
        where, args = "", []
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        if workers > 1 and dsn is not None and stream_id is None:
            size = await conn.fetchval(f"SELECT coalesce(max(global_position), 0) FROM {t}")
            if size >= PARALLEL_FROM:
                ranges = await _stream_ranges(conn, t, workers * RANGES_PER_WORKER, size)
                snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
                # Each worker may keep as many digests as one process would: together
                # they hold at most ``size``. In a larger store none are kept (``audit
                # verify`` would not use them: the leaves pass then hashes every event).
                keep = DIGESTS_KEPT if digests is not None and size <= DIGESTS_KEPT else 0
                # The exporting transaction stays open until every worker has read.
                return await _verify_ranges(
                    dsn, schema, snapshot, ranges, workers, batch, keep, digests
                )
        return await _verify_on(conn, _chain_sql(t, where), args, batch, digests, DIGESTS_KEPT)


def _chain_sql(table: str, where: str) -> str:
    return f"SELECT {COLUMNS} FROM {table} {where} ORDER BY stream_id, stream_version"


async def _verify_on(
    conn: asyncpg.Connection,
    sql: str,
    args: list[Any],
    batch: int,
    digests: dict[bytes, bytes] | None,
    keep: int,
) -> ChainReport:
    """Every chain among ``sql``'s rows (in stream and version order), in the caller's
    transaction; at most ``keep`` digests kept in ``digests``."""
    breaks: list[ChainBreak] = []
    streams = events = 0
    current: _StreamCheck | None = None

    def check(rows: list[Any]) -> None:
        nonlocal current, events, streams
        events += len(rows)
        for r in rows:
            if current is None or current.stream_id != r["stream_id"]:
                if current is not None:
                    breaks.extend(current.breaks)
                current = _StreamCheck(r["stream_id"])
                streams += 1
            current.feed(r, digests if digests is not None and len(digests) < keep else None)

    await each_batch(await conn.cursor(sql, *args), check, batch)
    if current is not None:
        breaks.extend(current.breaks)
    return ChainReport(streams, events, breaks)


# Parallel verification. Starting a worker (a new interpreter importing asyncpg, this
# module and shared.digest, and the parent's main module again: about 0.1 s for
# `import shared.chain` here, 0.47 s before shared.digest was split out of the event
# store) is not worth it for a small store, which one process verifies.
PARALLEL_FROM = 200_000
# Stream ids sampled to cut the store into ranges of about equal numbers of events.
SAMPLE_ROWS = 4_000
# Ranges per worker, taken in turn by whichever worker is free, so that a worker slowed
# by its neighbours or given a larger range takes fewer of the rest (docs/performance.md:
# on the 2-core VM the idle tail was no shorter than with one range each, 0.4 to 0.7 s,
# since the two processes' speeds varied as much as the ranges' sizes); each range costs
# a connection and one snapshot import, tens of milliseconds.
RANGES_PER_WORKER = 4
# What pg_export_snapshot returns (it is written into SET TRANSACTION SNAPSHOT).
_SNAPSHOT_ID = re.compile(r"[0-9A-F]+-[0-9A-F]+(-[0-9]+)?")

Bound = str | None  # a range of stream ids: from (inclusive) .. to (exclusive); None: open


async def _stream_ranges(
    conn: asyncpg.Connection, table: str, parts: int, size: int
) -> list[tuple[Bound, Bound]]:
    """Up to ``parts`` ranges of stream ids holding about as many events each (of about
    ``size`` in all), cut at a sample of the stream ids sorted by the database: its
    collation orders the ranges as it orders the rows."""
    percent = min(100.0, 100.0 * SAMPLE_ROWS / size)
    sample = [
        r[0]
        for r in await conn.fetch(
            f"SELECT stream_id FROM {table} TABLESAMPLE SYSTEM ($1) ORDER BY stream_id",
            percent,
        )
    ]
    cuts: list[str] = []
    for i in range(1, parts):
        cut = sample[i * len(sample) // parts] if sample else None
        if cut is not None and cut != sample[0] and (not cuts or cut != cuts[-1]):
            cuts.append(cut)
    bounds: list[Bound] = [None, *cuts, None]
    return list(itertools.pairwise(bounds))


@dataclass(frozen=True)
class _Part:
    report: ChainReport
    ids: bytes  # event ids (16 bytes each) of the digests kept, in order
    digests: bytes  # their digests (32 bytes each)


async def _verify_ranges(
    dsn: str,
    schema: str,
    snapshot: str,
    ranges: list[tuple[Bound, Bound]],
    workers: int,
    batch: int,
    keep: int,
    digests: dict[bytes, bytes] | None,
) -> ChainReport:
    loop = asyncio.get_running_loop()
    # spawn: a fresh interpreter, not a fork of this one's event loop, threads and sockets.
    pool = ProcessPoolExecutor(
        min(workers, len(ranges)), mp_context=multiprocessing.get_context("spawn")
    )
    try:
        parts = await asyncio.gather(
            *(
                loop.run_in_executor(
                    pool, verify_range, dsn, schema, snapshot, low, high, batch, keep
                )
                for low, high in ranges
            )
        )
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    breaks: list[ChainBreak] = []
    for part in parts:  # ranges in stream order, so the breaks are too
        breaks.extend(part.report.breaks)
        if digests is not None and keep:
            ids, ds = part.ids, part.digests
            digests.update(
                (ids[i * 16 : i * 16 + 16], ds[i * 32 : i * 32 + 32]) for i in range(len(ids) // 16)
            )
    return ChainReport(
        sum(p.report.streams for p in parts), sum(p.report.events for p in parts), breaks
    )


def verify_range(
    dsn: str, schema: str, snapshot: str, low: Bound, high: Bound, batch: int, keep: int
) -> _Part:
    """In a worker process: the chains of the streams from ``low`` to ``high``, read in
    the exported ``snapshot``, with at most ``keep`` digests."""
    return asyncio.run(_verify_range(dsn, schema, snapshot, low, high, batch, keep))


async def _verify_range(
    dsn: str, schema: str, snapshot: str, low: Bound, high: Bound, batch: int, keep: int
) -> _Part:
    if not _SNAPSHOT_ID.fullmatch(snapshot):
        raise ValueError("not a snapshot id")
    conds, args = [], []
    if low is not None:
        args.append(low)
        conds.append(f"stream_id >= ${len(args)}")
    if high is not None:
        args.append(high)
        conds.append(f"stream_id < ${len(args)}")
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    digests: dict[bytes, bytes] | None = {} if keep else None
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
            # Read in the order of the (stream_id, stream_version) index, as the whole
            # store is read: with a bound on stream_id the planner would rather scan the
            # table and sort half of it, a second pass over the rows and far more CPU.
            await conn.execute("SET LOCAL enable_sort = off")
            sql = _chain_sql(f"{quote_ident(schema)}.event", where)
            report = await _verify_on(conn, sql, args, batch, digests, keep)
    finally:
        await conn.close()
    if digests is None:
        return _Part(report, b"", b"")
    return _Part(report, b"".join(digests), b"".join(digests.values()))
