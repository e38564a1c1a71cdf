"""Verification reads the next batch while it hashes this one (``chain.each_batch``): every
row once, in order, across batch boundaries; a failure in the work leaves the connection
usable (issue 12)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from shared.audit import store_leaves
from shared.chain import each_batch, verify_chains
from shared.eventstore import EventStore
from tests.integration.core.events import noted, test_registry


async def _store(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    for s in ("a", "b", "c", "d"):
        for i in range(5):
            await store.append(s, i, [noted(i, f"{s}{i}")])


async def test_every_row_once_in_order_for_any_batch_size(pool: asyncpg.Pool) -> None:
    await _store(pool)
    sql = 'SELECT stream_id, stream_version FROM "case".event ORDER BY stream_id, stream_version'
    expected = [tuple(r) for r in await pool.fetch(sql)]
    assert len(expected) == 20
    for size in (1, 3, 7, 20, 50):
        seen: list[tuple[Any, ...]] = []
        batches: list[int] = []

        def work(rows: list[Any], seen: list[Any] = seen, batches: list[int] = batches) -> None:
            batches.append(len(rows))
            seen.extend(tuple(r) for r in rows)

        async with pool.acquire() as conn, conn.transaction(readonly=True):
            await each_batch(await conn.cursor(sql), work, size)
        assert seen == expected, size
        assert max(batches) <= size


async def test_a_stream_split_across_batches_verifies_as_one(pool: asyncpg.Pool) -> None:
    """A chain broken inside a stream is named once, whatever the batch size."""
    await _store(pool)
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(
            """UPDATE "case".event SET data = jsonb_set(data, '{text}', '"rewritten"')
               WHERE stream_id = 'b' AND stream_version = 3"""
        )
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')
    whole = await verify_chains(pool, "case")
    assert [(b.stream_id, b.stream_version, b.kind) for b in whole.breaks] == [("b", 3, "changed")]
    for size in (1, 2, 3, 4, 6):
        report = await verify_chains(pool, "case", batch=size)
        assert (report.streams, report.events, report.breaks) == (4, 20, whole.breaks), size


async def test_a_failing_work_leaves_the_connection_usable(pool: asyncpg.Pool) -> None:
    await _store(pool)
    calls = 0

    def fail_on_second(rows: list[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("work failed")

    async with pool.acquire() as conn, conn.transaction(readonly=True):
        cursor = await conn.cursor('SELECT event_id FROM "case".event ORDER BY global_position')
        with pytest.raises(RuntimeError, match="work failed"):
            await each_batch(cursor, fail_on_second, 3)
        # The batch asked for ahead was answered before the error went on: the connection
        # takes the next statement in the same transaction.
        assert await conn.fetchval('SELECT count(*) FROM "case".event') == 20
    leaves, ids = await _leaves(pool)
    assert len(leaves) == len(ids) == 20


async def _leaves(pool: asyncpg.Pool) -> tuple[list[bytes], list[str]]:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        return await store_leaves(conn, "case")
