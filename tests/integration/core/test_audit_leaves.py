"""The Merkle leaves ``audit verify`` builds from the chain pass's digests are the leaves
recomputed from content, for every event (issue 12: each event is hashed once)."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from shared import chain
from shared.audit import store_leaves, verify_service
from shared.chain import verify_chains
from shared.eventstore import EventStore
from tests.integration.core.events import noted, test_registry


async def _leaves(
    pool: asyncpg.Pool, known: dict[bytes, bytes] | None
) -> tuple[list[bytes], list[str], dict[str, tuple[bytes, dict[str, Any]]]]:
    digests: dict[str, tuple[bytes, dict[str, Any]]] = {}
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        leaves, ids = await store_leaves(conn, "case", digests, known=known)
    return leaves, ids, digests


async def test_leaves_from_the_chain_pass_equal_leaves_from_content(pool: asyncpg.Pool) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    for s in ("a", "b", "c"):
        for i in range(5):
            await store.append(s, i, [noted(i, f"{s}{i} Ключ \u2028 {1e-05}")])
    known: dict[bytes, bytes] = {}
    report = await verify_chains(pool, "case", digests=known)
    assert report.ok and len(known) == 15
    # Two events appended after the chain pass, one digest lost: read whole and hashed.
    await store.append("a", 5, [noted(5), noted(6)])
    known.pop(next(iter(known)))
    expected = await _leaves(pool, None)
    assert len(expected[0]) == 17
    assert await _leaves(pool, known) == expected

    # Content rewritten with its hash recomputed: both ways the leaf follows the content.
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(
            """UPDATE "case".event SET data = '{"n": 99}'::jsonb
               WHERE stream_id = 'b' AND stream_version = 3"""
        )
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')
    known = {}
    report = await verify_chains(pool, "case", digests=known)
    assert [(b.stream_id, b.stream_version, b.kind) for b in report.breaks] == [("b", 3, "changed")]
    changed = await _leaves(pool, None)
    assert changed != expected
    assert await _leaves(pool, known) == changed


async def test_a_store_larger_than_the_digests_kept_is_verified_alike(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    for s in ("a", "b"):
        for i in range(4):
            await store.append(s, i, [noted(i, s)])
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(
            """UPDATE "case".event SET data = '{"n": 99}'::jsonb
               WHERE stream_id = 'a' AND stream_version = 2"""
        )
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')
    whole = await verify_service(pool, "case", public_key="", checkpoints=[])
    monkeypatch.setattr(chain, "DIGESTS_KEPT", 3)
    capped = await verify_service(pool, "case", public_key="", checkpoints=[])
    assert capped.summary() == whole.summary()
    assert [(b.stream_id, b.stream_version) for b in whole.chain_breaks] == [("a", 2)]
