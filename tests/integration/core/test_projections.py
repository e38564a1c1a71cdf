"""Rebuilding a read model from the events: same result as live, resumes after interruption."""

from __future__ import annotations

import asyncio
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


async def test_work_alongside_runs_beside_the_batches_and_its_failure_fails_the_rebuild(
    pool: asyncpg.Pool,
) -> None:
    """``Projection.alongside`` starts once the first batch has committed, runs in its own
    transaction while the next batches fold, and commits before ``finish``; when it fails,
    the rebuild fails with it, its writes rolled back and the rebuild resumable."""
    await pool.execute('CREATE TABLE "case".stream_size (stream_id text PRIMARY KEY, size int)')
    await pool.execute('CREATE TABLE "case".beside (n int)')
    store = EventStore(pool, "case", registry=test_registry)
    for s in range(7):
        for i in range(s + 3):
            await store.append(f"s{s}", i, [noted(i)])
    order: list[str] = []
    fail = True

    async def apply(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        order.append("batch")
        await count_per_stream(conn, events)
        await asyncio.sleep(0.1)  # nine batches: 0.9 s at least

    async def beside(conn: asyncpg.Connection) -> None:
        order.append("beside")
        await conn.execute('INSERT INTO "case".beside VALUES (1)')
        if fail:  # at once: the rebuild stops before its last batch
            raise Interrupted
        await asyncio.sleep(0.3)  # the later batches fold meanwhile
        order.append("beside done")

    async def finish(conn: asyncpg.Connection) -> None:
        order.append("finish")
        assert await conn.fetchval('SELECT count(*) FROM "case".beside') == 1  # committed

    index = 'CREATE INDEX IF NOT EXISTS beside_n ON "case".beside (n)'
    projection = Projection(
        "stream_size", ('"case".stream_size',), apply, finish=finish, alongside=beside,
        indexes=(index,),
    )  # fmt: skip
    with pytest.raises(Interrupted):
        await rebuild(store, projection, batch=5, fresh=True)
    assert order[0] == "batch" and "beside" in order  # after the first batch
    assert order.count("batch") < 9  # the failure stopped the fold, not waited for
    assert "finish" not in order
    assert await pool.fetchval('SELECT count(*) FROM "case".beside') == 0  # rolled back
    marker = 'SELECT count(*) FROM "case".checkpoint WHERE name = $1'
    assert await pool.fetchval(marker, "replay:stream_size") == 1  # resumable

    fail, order[:] = False, []
    assert await rebuild(store, projection, batch=5, fresh=True) == 42
    began, ended = order.index("beside"), order.index("beside done")
    assert order[0] == "batch" and "batch" in order[began:ended]  # batches folded beside it
    assert order.count("batch") == 9 and order[-1] == "finish"
    assert await pool.fetchval(marker, "replay:stream_size") == 0
    assert await pool.fetchval("SELECT to_regclass('\"case\".beside_n')")  # built

    # An index that cannot be built fails the rebuild after ``finish``: the marker stays.
    broken = Projection("stream_size", ('"case".stream_size',), apply, finish=finish,
                        indexes=('CREATE INDEX nowhere ON "case".missing (n)',))  # fmt: skip
    with pytest.raises(asyncpg.UndefinedTableError):
        await rebuild(store, broken, batch=5, fresh=True)
    assert await pool.fetchval(marker, "replay:stream_size") == 1
