"""Verifying per-stream hash chains: name every event changed, removed or reordered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.eventstore import chain_hash, stored_content_digest
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


# The columns a chain check reads. Data and metadata come as jsonb's text in UTF-8 bytes
# (bytea): what orjson parses, without decoding to str and encoding again.
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
        v = r["stream_version"]
        eid = str(r["event_id"])
        if v != self.expected_version:
            self.breaks.append(
                ChainBreak(
                    self.stream_id,
                    self.expected_version,
                    None,
                    "missing",
                    f"versions {self.expected_version}..{v - 1} are missing before event {eid}",
                )
            )
            self.prev_hash = r["prev_hash"]  # the gap is named; judge this row on its own
        digest = row_digest(r, v)
        if digests is not None and len(digests) < DIGESTS_KEPT:
            digests[r["event_id"].bytes] = digest
        if chain_hash(r["prev_hash"], digest) != r["hash"]:
            moved_from = self._original_version(r)
            if moved_from is not None:
                self.breaks.append(
                    ChainBreak(
                        self.stream_id,
                        v,
                        eid,
                        "reordered",
                        f"event was written at version {moved_from}, now stands at {v}",
                    )
                )
            else:
                self.breaks.append(
                    ChainBreak(self.stream_id, v, eid, "changed", "content does not match its hash")
                )
        elif r["prev_hash"] != self.prev_hash and not self._last_row_named:
            # (A link broken only because the row before was itself named - moved or
            # changed - is that row's break, not a second one.)
            self.breaks.append(
                ChainBreak(
                    self.stream_id,
                    v,
                    eid,
                    "reordered",
                    "previous-hash link does not match the event before it"
                    " (an event before it was removed, replaced or moved)",
                )
            )
        self._last_row_named = len(self.breaks) > named_before
        self.prev_hash = r["hash"]
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
) -> ChainReport:
    """Recompute every hash of ``schema``'s streams (or one stream). With ``digests``, also
    keep each event's content digest there by event id (``UUID.bytes``), for at most
    ``DIGESTS_KEPT`` events (``shared.audit.store_leaves`` builds the Merkle leaves from
    them instead of hashing every event again)."""
    t = f"{quote_ident(schema)}.event"
    where = "WHERE stream_id = $1" if stream_id else ""
    args: list[Any] = [stream_id] if stream_id else []
    sql = f"SELECT {COLUMNS} FROM {t} {where} ORDER BY stream_id, stream_version"
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
            current.feed(r, digests)

    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await each_batch(await conn.cursor(sql, *args), check, batch)
    if current is not None:
        breaks.extend(current.breaks)
    return ChainReport(streams, events, breaks)
