"""Rebuilding a read model from the events: same result as live, resumes after interruption."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
import pytest

from shared.eventstore import EventStore, StoredEvent
from shared.projections import Projection, rebuild
from tests.integration.core.events import noted, test_registry


async def count_per_stream(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    # Idempotent: the row keeps the highest version seen.
    await conn.executemany(
        """INSERT INTO "case".stream_size (stream_id, size) VALUES ($1, $2)
           ON CONFLICT (stream_id) DO UPDATE
           SET size = greatest("case".stream_size.size, excluded.size)""",
        [(e.stream_id, e.stream_version) for e in events],
    )


PROJECTION = Projection("stream_size", ('"case".stream_size',), count_per_stream)


class Interrupted(Exception):
    pass


async def test_rebuild_equals_live_and_resumes(pool: asyncpg.Pool) -> None:
    await pool.execute('CREATE TABLE "case".stream_size (stream_id text PRIMARY KEY, size int)')
    store = EventStore(pool, "case", registry=test_registry)
    for s in range(7):
        for i in range(s + 3):
            stored = await store.append(f"s{s}", i, [noted(i)])
            async with pool.acquire() as c:
                await count_per_stream(c, stored)  # the live projection
    live = await pool.fetch('SELECT * FROM "case".stream_size ORDER BY stream_id')

    seen: list[int] = []

    def stop_after_two_batches(done: int, total: int, rate: float) -> None:
        seen.append(done)
        if len(seen) == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        await rebuild(store, PROJECTION, batch=5, progress=stop_after_two_batches)
    assert await pool.fetchval('SELECT count(*) FROM "case".stream_size') < len(live)

    progress: list[tuple[int, int]] = []
    total = await rebuild(
        store, PROJECTION, batch=5, progress=lambda d, t, r: progress.append((d, t))
    )
    assert progress[0][0] == 15  # resumed after the two batches already applied
    assert total == progress[-1][0] == progress[-1][1] == 42
    assert await pool.fetch('SELECT * FROM "case".stream_size ORDER BY stream_id') == live
