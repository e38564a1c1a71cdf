"""Signed Merkle checkpoints: rewriting history is found even when hashes are recomputed."""

from __future__ import annotations

import json

import asyncpg
import pytest
from nats.js import JetStreamContext

from shared.audit import published_checkpoints, verify_service
from shared.digest import chain_hash, content_digest
from shared.eventstore import EventStore
from shared.jetstream import ensure_stream, stream_config
from shared.merkle import inclusion_proof, verify_inclusion
from shared.sealer import Sealer, event_leaf, load_signing_key, public_key_b64
from shared.secretfiles import random_key_b64
from tests.integration.core.events import noted, test_registry

KEY = load_signing_key(random_key_b64())
PUBLIC = public_key_b64(KEY)


@pytest.fixture
async def sealed(
    pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> tuple[EventStore, Sealer]:
    await ensure_stream(js, stream_config(f"{namespace}_AUDIT".upper(), [f"{namespace}.audit.>"]))
    store = EventStore(pool, "case", registry=test_registry)
    sealer = Sealer(store, js, KEY, namespace=namespace)
    for s in ("a", "b", "c"):
        for i in range(4):
            await store.append(s, i, [noted(i, f"{s}{i}")])
    assert (await sealer.seal_once())["tree_size"] == 12
    for i in range(4, 7):
        await store.append("a", i, [noted(i)])
    assert (await sealer.seal_once())["tree_size"] == 15
    assert await sealer.seal_once() is None  # nothing new, no checkpoint
    return store, sealer


async def verify(pool: asyncpg.Pool, js: JetStreamContext, namespace: str, public: str = PUBLIC):  # type: ignore[no-untyped-def]
    cps = await published_checkpoints(js, f"{namespace}_AUDIT".upper(), namespace, "case")
    return await verify_service(pool, "case", public_key=public, checkpoints=cps)


async def _tamper(pool: asyncpg.Pool, sql: str) -> None:
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(sql)
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')


async def test_an_untouched_store_verifies(sealed, pool, js, namespace) -> None:  # type: ignore[no-untyped-def]
    report = await verify(pool, js, namespace)
    assert report.ok, report.summary()
    assert (report.events, report.streams, report.checkpoints) == (15, 3, 2)


async def test_a_signature_from_another_key_fails(sealed, pool, js, namespace) -> None:  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    report = await verify(pool, js, namespace, public_key_b64(Ed25519PrivateKey.generate()))
    assert not report.ok and "signature does not verify" in report.problems[0]


async def test_a_rewrite_with_recomputed_hashes_is_caught_by_the_checkpoints(
    sealed, pool, js, namespace
) -> None:  # type: ignore[no-untyped-def]
    """The attacker edits an event AND recomputes its hash chain: chains pass, the tree fails."""
    row = await pool.fetchrow(
        """SELECT event_id, stream_id, stream_version, event_type, occurred_at, data::text AS d,
                  metadata::text AS m, prev_hash FROM "case".event
           WHERE stream_id = 'b' AND stream_version = 4"""
    )
    data = json.loads(row["d"]) | {"text": "rewritten"}
    new_hash = chain_hash(
        row["prev_hash"],
        content_digest(
            row["event_id"],
            "b",
            4,
            row["event_type"],
            row["occurred_at"],
            data,
            json.loads(row["m"]),
        ),
    )
    async with pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute(
            """UPDATE "case".event SET data = $1::jsonb, hash = $2
               WHERE stream_id = 'b' AND stream_version = 4""",
            json.dumps(data),
            new_hash,
        )
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')
    report = await verify(pool, js, namespace)
    assert report.chain_breaks == []  # the chain alone is fooled
    assert not report.ok
    assert f"event {row['event_id']}" in report.problems[0]


async def test_removing_the_last_event_of_a_stream_is_caught(sealed, pool, js, namespace) -> None:  # type: ignore[no-untyped-def]
    await _tamper(pool, "DELETE FROM \"case\".event WHERE stream_id = 'a' AND stream_version = 7")
    report = await verify(pool, js, namespace)
    assert report.chain_breaks == []  # nothing after it to break
    assert not report.ok and "no longer in the store" in report.problems[0]


async def test_a_changed_field_names_the_event(sealed, pool, js, namespace) -> None:  # type: ignore[no-untyped-def]
    await _tamper(
        pool,
        """UPDATE "case".event SET data = jsonb_set(data, '{n}', '99')
                           WHERE stream_id = 'c' AND stream_version = 2""",
    )
    report = await verify(pool, js, namespace)
    assert [(b.stream_id, b.stream_version, b.kind) for b in report.chain_breaks] == [
        ("c", 2, "changed")
    ]
    assert not report.ok


async def test_an_inclusion_proof_checks_against_the_published_checkpoint(
    sealed, pool, js, namespace
) -> None:  # type: ignore[no-untyped-def]
    store, _ = sealed
    events = await store.read_all()
    leaves = [event_leaf(e.event_id, e.hash) for e in events]
    body, _sig = (await published_checkpoints(js, f"{namespace}_AUDIT".upper(), namespace, "case"))[
        -1
    ]
    i = 9
    proof = inclusion_proof(leaves, i, body["tree_size"])
    assert verify_inclusion(leaves[i], i, body["tree_size"], proof, bytes.fromhex(body["root"]))
    assert not verify_inclusion(
        leaves[i], i + 1, body["tree_size"], proof, bytes.fromhex(body["root"])
    )


async def test_a_store_with_no_checkpoint_yet_verifies(pool, js, namespace) -> None:  # type: ignore[no-untyped-def]
    await ensure_stream(js, stream_config(f"{namespace}_AUDIT".upper(), [f"{namespace}.audit.>"]))
    assert await published_checkpoints(js, f"{namespace}_AUDIT".upper(), namespace, "case") == []
    assert (await verify(pool, js, namespace)).ok
