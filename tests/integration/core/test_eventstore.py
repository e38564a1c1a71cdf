"""The event store against a real Postgres: versions, global order, append-only, chains."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import asyncpg
import pytest

from shared.chain import verify_chains
from shared.eventstore import Checkpoint, ConcurrencyError, EventStore, NewEvent
from tests.integration.core.events import ACTOR, Noted, noted, test_registry


@pytest.fixture
def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool, "case", registry=test_registry)


async def test_append_and_read_back_in_version_order(store: EventStore) -> None:
    first = await store.append("s1", 0, [noted(1)])
    more = await store.append("s1", 1, [noted(2), noted(3)])
    events = await store.read_stream("s1")
    assert [e.stream_version for e in events] == [1, 2, 3]
    assert [store.load(e) for e in events] == [Noted(n=1), Noted(n=2), Noted(n=3)]
    assert [e.event_id for e in events] == [first[0].event_id] + [e.event_id for e in more]
    assert events[1].prev_hash == events[0].hash and events[0].prev_hash is None
    assert events[0].metadata == {"actor": "caseworker:tester", "correlationid": "corr-1"}
    assert (await verify_chains(store.pool, "case")).ok


async def test_wrong_expected_version_raises_and_writes_nothing(store: EventStore) -> None:
    await store.append("s1", 0, [noted(1)])
    with pytest.raises(ConcurrencyError) as err:
        await store.append("s1", 0, [noted(2)])
    assert (err.value.expected, err.value.actual) == (0, 1)
    with pytest.raises(ConcurrencyError):
        await store.append("s1", 5, [noted(2), noted(3)])
    assert [e.stream_version for e in await store.read_stream("s1")] == [1]


async def test_two_concurrent_writers_one_wins(store: EventStore) -> None:
    await store.append("s1", 0, [noted(0)])
    results = await asyncio.gather(
        *(store.append("s1", 1, [noted(i)]) for i in range(8)), return_exceptions=True
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, ConcurrencyError)]
    assert len(wins) == 1 and len(losses) == 7
    assert await store.stream_version("s1") == 2


async def test_a_new_stream_started_with_a_batch_is_chained_as_any_other(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """A new stream's batch is written by its own statement (its chain computed before it
    is sent): the same links and hashes as the statement that extends a stream, checked
    by the verifier, which recomputes every digest and link."""
    started = await store.append("s1", 0, [noted(1), noted(2), noted(3)])
    await store.append("s1", 3, [noted(4), noted(5)])
    events = await store.read_stream("s1")
    assert [e.stream_version for e in started] == [1, 2, 3]
    assert [(e.prev_hash, e.hash) for e in started] == [(e.prev_hash, e.hash) for e in events[:3]]
    assert events[0].prev_hash is None
    assert all(b.prev_hash == a.hash for a, b in pairwise(events))
    assert [store.load(e) for e in events] == [Noted(n=n) for n in range(1, 6)]
    positions = [e.global_position for e in events[:3]]
    assert positions == sorted(positions)  # in version order
    assert (await verify_chains(pool, "case")).ok


async def test_a_batch_starting_a_stream_that_exists_writes_nothing(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """A stream's first batch when it has events already: ``ConcurrencyError``, nothing
    written, and a caller's transaction still usable (no statement failed in it)."""
    await store.append("s1", 0, [noted(1)])
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(ConcurrencyError) as err:
            await store.append("s1", 0, [noted(2), noted(3)], conn=conn)
        assert (err.value.expected, err.value.actual) == (0, 1)
        assert await conn.fetchval("SELECT 1") == 1
    assert [e.stream_version for e in await store.read_stream("s1")] == [1]


async def test_writers_starting_one_stream_with_batches_one_wins(store: EventStore) -> None:
    results = await asyncio.gather(
        *(store.append("s1", 0, [noted(i), noted(i + 100)]) for i in range(8)),
        return_exceptions=True,
    )
    wins = [r for r in results if not isinstance(r, BaseException)]
    losses = [r for r in results if isinstance(r, ConcurrencyError)]
    assert len(wins) == 1 and len(losses) == 7, results
    assert [e.stream_version for e in await store.read_stream("s1")] == [1, 2]
    assert (await verify_chains(store.pool, "case")).ok


async def test_read_stream_up_to_a_moment(store: EventStore) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(3):
        await store.append(
            "s1", i, [NewEvent(Noted(n=i), ACTOR, "c", occurred_at=t0 + timedelta(hours=i))]
        )
    upto = await store.read_stream("s1", up_to_time=t0 + timedelta(hours=1))
    assert [e.stream_version for e in upto] == [1, 2]
    before = await store.read_stream("s1", up_to_time=t0 - timedelta(microseconds=1))
    assert before == []


async def test_global_reader_never_skips_a_late_commit(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """A transaction that inserts first but commits last must not be skipped."""
    slow = await pool.acquire()
    try:
        tx = slow.transaction()
        await tx.start()
        # Lower global position, still uncommitted.
        await store.append("slow", 0, [noted(1)], conn=slow)
        fast = await store.append("fast", 0, [noted(2)])  # higher position, committed
        seen = await store.read_all(Checkpoint())
        # The fast event is held back while the slow transaction runs: reading it now
        # and checkpointing past it would skip the slow one for ever.
        assert seen == []
        await tx.commit()
    finally:
        await pool.release(slow)
    seen = await store.read_all(Checkpoint())
    assert [e.stream_id for e in seen] == ["slow", "fast"]
    assert seen[1].event_id == fast[0].event_id
    assert await store.read_all(seen[-1].checkpoint) == []


async def test_global_order_under_many_concurrent_writers(store: EventStore) -> None:
    """Reading while 8 writers append: every event exactly once."""
    stop = asyncio.Event()
    seen: list[str] = []

    async def reader() -> None:
        cp = Checkpoint()
        while True:
            batch = await store.read_all(cp, 100)
            seen.extend(str(e.event_id) for e in batch)
            if batch:
                cp = batch[-1].checkpoint
            elif stop.is_set():
                return
            await asyncio.sleep(0.001)

    async def writer(w: int) -> list[str]:
        ids = []
        for i in range(40):
            stored = await store.append(f"w{w}", i, [noted(i)])
            ids.append(str(stored[0].event_id))
        return ids

    task = asyncio.create_task(reader())
    written = await asyncio.gather(*(writer(w) for w in range(8)))
    stop.set()
    await task
    assert sorted(seen) == sorted(i for ids in written for i in ids)
    assert len(seen) == len(set(seen)) == 320


async def test_database_refuses_update_delete_truncate(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    await store.append("s1", 0, [noted(1)])
    for sql in (
        "UPDATE \"case\".event SET data = '{}'",
        'DELETE FROM "case".event',
        'TRUNCATE "case".event',
    ):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await pool.execute(sql)
    assert len(await store.read_stream("s1")) == 1


async def _tamper(pool: asyncpg.Pool, sql: str, *args: object) -> None:
    """Change rows with the append-only guard lifted, as an attacker with DBA rights could."""
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(sql, *args)
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')


async def _five(store: EventStore) -> None:
    await store.append("other", 0, [noted(0)])
    for i in range(5):
        await store.append("s1", i, [noted(i, f"text {i}")])


async def test_verify_names_a_changed_event(store: EventStore, pool: asyncpg.Pool) -> None:
    await _five(store)
    await _tamper(
        pool,
        """UPDATE "case".event SET data = jsonb_set(data, '{text}', '"rewritten"')
           WHERE stream_id = 's1' AND stream_version = 3""",
    )
    report = await verify_chains(pool, "case")
    assert not report.ok and len(report.breaks) == 1
    b = report.first
    assert b is not None and (b.stream_id, b.stream_version, b.kind) == ("s1", 3, "changed")


async def test_verify_names_a_deleted_event(store: EventStore, pool: asyncpg.Pool) -> None:
    await _five(store)
    await _tamper(pool, "DELETE FROM \"case\".event WHERE stream_id = 's1' AND stream_version = 2")
    b = (await verify_chains(pool, "case")).first
    assert b is not None and (b.stream_id, b.stream_version, b.kind) == ("s1", 2, "missing")


async def test_verify_names_reordered_events(store: EventStore, pool: asyncpg.Pool) -> None:
    await _five(store)
    await _tamper(
        pool,
        """UPDATE "case".event SET stream_version = -stream_version
           WHERE stream_id = 's1' AND stream_version IN (2, 4)""",
    )
    await _tamper(
        pool,
        """UPDATE "case".event SET stream_version = CASE stream_version WHEN -2 THEN 4 ELSE 2 END
           WHERE stream_id = 's1' AND stream_version IN (-2, -4)""",
    )
    b = (await verify_chains(pool, "case")).first
    assert b is not None and (b.stream_id, b.stream_version, b.kind) == ("s1", 2, "reordered")
    assert "written at version 4" in b.detail
    assert (await verify_chains(pool, "case", stream_id="other")).ok


async def test_verify_names_every_break_not_only_the_first(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """Swapping the data of two events of one stream names both; a removed event is named
    once, and the events after it are judged on their own."""
    await _five(store)
    await _tamper(
        pool,
        """UPDATE "case".event AS e SET data = o.data FROM "case".event AS o
           WHERE e.stream_id = 's1' AND o.stream_id = 's1'
             AND (e.stream_version, o.stream_version) IN ((2, 4), (4, 2))""",
    )
    report = await verify_chains(pool, "case")
    assert [(b.stream_id, b.stream_version, b.kind) for b in report.breaks] == [
        ("s1", 2, "changed"),
        ("s1", 4, "changed"),
    ]
    await _tamper(pool, "DELETE FROM \"case\".event WHERE stream_id = 'other'")
    await _tamper(pool, "DELETE FROM \"case\".event WHERE stream_id = 's1' AND stream_version = 3")
    report = await verify_chains(pool, "case")
    assert [(b.stream_version, b.kind) for b in report.breaks] == [
        (2, "changed"),
        (3, "missing"),
        (4, "changed"),
    ]


async def test_verify_names_both_events_of_a_swap(store: EventStore, pool: asyncpg.Pool) -> None:
    await _five(store)
    await _tamper(
        pool,
        """UPDATE "case".event SET stream_version = -stream_version
           WHERE stream_id = 's1' AND stream_version IN (2, 4)""",
    )
    await _tamper(
        pool,
        """UPDATE "case".event SET stream_version = CASE stream_version WHEN -2 THEN 4 ELSE 2 END
           WHERE stream_id = 's1' AND stream_version IN (-2, -4)""",
    )
    report = await verify_chains(pool, "case")
    assert [(b.stream_version, b.kind) for b in report.breaks] == [
        (2, "reordered"),
        (4, "reordered"),
    ]
