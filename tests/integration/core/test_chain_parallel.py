"""Chains verified by several processes, each a range of stream ids in one snapshot, give
the report one process gives (issue 12)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import asyncpg
import pytest

from shared import chain
from shared.audit import verify_service
from shared.chain import ChainReport, verify_chains, verify_range
from shared.eventstore import EventStore
from tests.integration.core.events import noted, test_registry

STREAMS = ("a", "b", "c", "d", "e", "f", "g", "h")


async def _store(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    for s in STREAMS:
        for i in range(5):
            await store.append(s, i, [noted(i, f"{s}{i}")])


async def _tamper(pool: asyncpg.Pool) -> None:
    """One event changed near each end of the stream ids, one removed in the middle."""
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(
            """UPDATE "case".event SET data = jsonb_set(data, '{text}', '"rewritten"')
               WHERE (stream_id, stream_version) IN (('b', 2), ('g', 4))"""
        )
        await c.execute("""DELETE FROM "case".event WHERE stream_id = 'e' AND stream_version = 3""")
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')


@pytest.fixture
def parallel_from_zero(monkeypatch: pytest.MonkeyPatch) -> list[list[Any]]:
    """Any store is verified in parallel; the ranges each run used are recorded."""
    monkeypatch.setattr(chain, "PARALLEL_FROM", 0)
    used: list[list[Any]] = []
    original = chain._verify_ranges

    async def spy(dsn: str, schema: str, snapshot: str, ranges: list[Any], *rest: Any) -> Any:
        used.append(ranges)
        return await original(dsn, schema, snapshot, ranges, *rest)

    monkeypatch.setattr(chain, "_verify_ranges", spy)
    return used


def _triples(report: ChainReport) -> list[tuple[str, int, str]]:
    return [(b.stream_id, b.stream_version, b.kind) for b in report.breaks]


async def test_workers_give_the_report_one_process_gives(
    pool: asyncpg.Pool, database_url: str, parallel_from_zero: list[list[Any]]
) -> None:
    await _store(pool)
    await _tamper(pool)
    one = await verify_chains(pool, "case")
    assert _triples(one) == [("b", 2, "changed"), ("e", 3, "missing"), ("g", 4, "changed")]
    for workers in (2, 3):
        many = await verify_chains(pool, "case", workers=workers, dsn=database_url)
        assert (many.streams, many.events, many.breaks) == (8, 39, one.breaks), workers
    # Each run was split into more ranges than workers (up to RANGES_PER_WORKER each, cut
    # at stream ids: here at most one range per stream), taken in turn by the workers;
    # the ranges cover the stream ids once, in order, and the breaks still come in order.
    assert len(parallel_from_zero) == 2
    for ranges, workers in zip(parallel_from_zero, (2, 3), strict=True):
        assert workers < len(ranges) <= min(len(STREAMS), workers * chain.RANGES_PER_WORKER)
    for ranges in parallel_from_zero:
        assert ranges[0][0] is None and ranges[-1][1] is None
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


async def test_workers_keep_the_digests_one_process_keeps(
    pool: asyncpg.Pool, database_url: str, parallel_from_zero: list[list[Any]]
) -> None:
    await _store(pool)
    one: dict[bytes, bytes] = {}
    await verify_chains(pool, "case", digests=one)
    many: dict[bytes, bytes] = {}
    report = await verify_chains(pool, "case", workers=2, dsn=database_url, digests=many)
    assert report.ok and len(one) == 40
    assert many == one
    assert parallel_from_zero


async def test_without_a_dsn_or_below_the_threshold_one_process_verifies(
    pool: asyncpg.Pool, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _store(pool)
    spawned: list[Any] = []
    monkeypatch.setattr(chain, "_verify_ranges", lambda *a: spawned.append(a))
    assert (await verify_chains(pool, "case", workers=2)).events == 40  # no dsn
    assert (await verify_chains(pool, "case", workers=2, dsn=database_url)).events == 40
    assert spawned == []  # 40 events < PARALLEL_FROM


async def test_a_worker_reads_the_exported_snapshot_not_later_appends(
    pool: asyncpg.Pool, database_url: str
) -> None:
    await _store(pool)
    store = EventStore(pool, "case", registry=test_registry)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        await store.append("a", 5, [noted(5, "later")])
        await store.append("z", 0, [noted(0, "later")])
        part = await asyncio.to_thread(
            verify_range, database_url, "case", snapshot, None, "c", 7, 99
        )
    assert (part.report.streams, part.report.events, part.report.ok) == (2, 10, True)
    assert len(part.ids) == 10 * 16 and len(part.digests) == 10 * 32
    # Without the snapshot, the later event of stream "a" is read (the test can fail).
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
        now = await conn.fetchval("SELECT pg_export_snapshot()")
        later = await asyncio.to_thread(verify_range, database_url, "case", now, None, "c", 7, 0)
    assert (later.report.events, later.ids) == (11, b"")


@pytest.mark.parametrize("snapshot", ["x", "00000003-0000001B-1'; SELECT 1; --", ""])
def test_a_worker_refuses_what_is_not_a_snapshot_id(snapshot: str) -> None:
    with pytest.raises(ValueError, match="not a snapshot id"):
        verify_range("postgresql://nowhere.invalid/x", "case", snapshot, None, None, 7, 0)


@pytest.mark.parametrize("kept", [chain.DIGESTS_KEPT, 10])
async def test_audit_verify_in_parallel_reports_as_in_one_process(
    pool: asyncpg.Pool,
    database_url: str,
    parallel_from_zero: list[list[Any]],
    monkeypatch: pytest.MonkeyPatch,
    kept: int,
) -> None:
    """The whole ``audit verify`` of a service: chains by workers, then the Merkle leaves
    from the digests they kept (or, in a store larger than the digests kept, hashed again)."""
    await _store(pool)
    await _tamper(pool)
    one = await verify_service(pool, "case", public_key="", checkpoints=[])
    monkeypatch.setattr(chain, "DIGESTS_KEPT", kept)
    many = await verify_service(
        pool, "case", public_key="", checkpoints=[], workers=2, dsn=database_url
    )
    assert many.summary() == one.summary()
    assert [(b.stream_id, b.stream_version) for b in one.chain_breaks] == [
        ("b", 2),
        ("e", 3),
        ("g", 4),
    ]
    assert parallel_from_zero
