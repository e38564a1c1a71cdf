"""A committed event an older transaction still holds back (issue 12, the flow's p99): the
store says so in the same read, and the relay looks again within milliseconds instead of
waiting for the next commit announced or its poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest
from nats.js import JetStreamContext

from shared.eventstore import Checkpoint, EventStore
from shared.jetstream import ensure_stream, stream_config
from shared.relay import Relay
from shared.runtime import cancel_until_done
from shared.signatures import EventSigner
from tests.integration.core.events import noted, test_registry
from tests.keys import SIGNING_KEYS

POLL = 5.0  # long: the relay must not need its poll to see the held event


@pytest.fixture
async def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool, "case", registry=test_registry)


@pytest.fixture
async def blocker(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """An open transaction holding a transaction id, older than what follows."""
    async with pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.fetchval("SELECT pg_current_xact_id()")
        try:
            yield conn
        finally:
            if conn.is_in_transaction():
                await conn.execute("ROLLBACK")


async def test_a_read_says_when_a_committed_event_is_held_back(
    store: EventStore, blocker: asyncpg.Connection
) -> None:
    assert await store.read_all_held(Checkpoint()) == ([], False)
    await store.append("a", 0, [noted(0), noted(1)])
    await store.append("b", 0, [noted(2)])
    events, held = await store.read_all_held(Checkpoint())
    assert (events, held) == ([], True)
    assert await store.read_all(Checkpoint()) == []  # the same horizon as read_all
    await blocker.execute("COMMIT")
    events, held = await store.read_all_held(Checkpoint())
    assert not held
    assert events == await store.read_all(Checkpoint())
    assert [(e.stream_id, e.stream_version) for e in events] == [("a", 1), ("a", 2), ("b", 1)]
    # A limit and a checkpoint as read_all takes them, in the same order.
    first, held = await store.read_all_held(Checkpoint(), limit=2)
    assert (first, held) == (events[:2], False)
    rest, held = await store.read_all_held(first[-1].checkpoint)
    assert (rest, held) == (events[2:], False)


async def test_the_relay_publishes_a_held_event_soon_after_the_older_transaction_ends(
    store: EventStore,
    blocker: asyncpg.Connection,
    js: JetStreamContext,
    namespace: str,
) -> None:
    stream = f"{namespace}_CASE".upper()
    await ensure_stream(js, stream_config(stream, [f"{namespace}.case.>"]))
    relay = Relay(
        store,
        js,
        subject_root=f"{namespace}.case",
        stream=stream,
        poll_seconds=POLL,
        signer=EventSigner(SIGNING_KEYS["case"]),
    )
    task = asyncio.create_task(relay.run())
    try:
        await asyncio.sleep(0.3)  # started, idle, waiting for a commit or its poll
        await store.append("a", 0, [noted(0)])  # announced; the relay reads, sees it held
        await asyncio.sleep(0.2)
        assert (await js.stream_info(stream)).state.messages == 0
        assert relay.held_back
        ended = time.monotonic()
        await blocker.execute("COMMIT")  # not an append: nothing announces it
        while (await js.stream_info(stream)).state.messages == 0:
            assert time.monotonic() - ended < POLL / 2, "waited for the poll"
            await asyncio.sleep(0.02)
        assert not relay.held_back
    finally:
        await cancel_until_done(task)
