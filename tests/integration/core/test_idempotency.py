"""Idempotency-Key: the first response is kept with the write, retries replay it."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.eventstore import ConcurrencyError, EventStore
from shared.idempotency import IdempotencyKeyReused, IdempotentWrite, fingerprint
from tests.integration.core.events import noted, test_registry


async def write_once(
    pool: asyncpg.Pool, store: EventStore, key: str, body: dict
) -> tuple[int, dict]:
    fp = fingerprint("POST", "/things", body)
    async with IdempotentWrite(pool, "case", "aziz", key, fp) as w:
        if w.replay is not None:
            return w.replay.status, w.replay.body
        version = await store.stream_version("s", conn=w.conn)
        stored = await store.append("s", version, [noted(body["n"])], conn=w.conn)
        response = {"version": stored[-1].stream_version}
        w.save(201, response)
        return 201, response


async def test_a_retry_replays_the_first_response_and_appends_nothing(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    first = await write_once(pool, store, "k1", {"n": 1})
    again = await write_once(pool, store, "k1", {"n": 1})
    assert first == again == (201, {"version": 1})
    assert await store.stream_version("s") == 1
    with pytest.raises(IdempotencyKeyReused):
        await write_once(pool, store, "k1", {"n": 2})
    assert await write_once(pool, store, "k2", {"n": 2}) == (201, {"version": 2})


async def test_concurrent_retries_write_once(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    results = await asyncio.gather(*(write_once(pool, store, "same", {"n": 5}) for _ in range(6)))
    assert all(r == (201, {"version": 1}) for r in results)
    assert await store.stream_version("s") == 1


async def test_a_failed_write_keeps_no_key(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    await store.append("s", 0, [noted(0)])
    fp = fingerprint("POST", "/things", {})
    with pytest.raises(ConcurrencyError):
        async with IdempotentWrite(pool, "case", "aziz", "k", fp) as w:
            await store.append("s", 0, [noted(1)], conn=w.conn)
    assert await pool.fetchval('SELECT count(*) FROM "case".idempotency_key') == 0
