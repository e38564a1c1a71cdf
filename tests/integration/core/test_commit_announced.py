"""A commit that appended wakes the relay after it commits, without a NOTIFY inside it.

Postgres serialises the commits of transactions that issued NOTIFY (a database-wide lock
held through the commit's WAL flush), so the event table's trigger that notified made
every append wait for the previous appender's fsync (migration 0006). The store now
announces after the commit: to listeners in its process directly, to a relay in another
process by a NOTIFY of its own. Against real Postgres and NATS JetStream.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from nats.js import JetStreamContext

from shared.eventstore import ConcurrencyError, EventStore
from shared.jetstream import ensure_stream, stream_config
from shared.relay import Relay
from shared.runtime import cancel_until_done
from shared.signatures import EventSigner
from tests.integration.core.events import noted, test_registry
from tests.keys import SIGNING_KEYS


async def settle() -> None:
    """Let the callbacks asyncpg schedules after a statement run."""
    for _ in range(3):
        await asyncio.sleep(0)


class Heard:
    """A raw LISTEN on the store's channel: what another process's relay would hear."""

    def __init__(self) -> None:
        self.count = 0
        self.event = asyncio.Event()

    def __call__(self, *_: object) -> None:
        self.count += 1
        self.event.set()

    async def within(self, seconds: float) -> bool:
        try:
            async with asyncio.timeout(seconds):
                await self.event.wait()
        except TimeoutError:
            return False
        self.event.clear()
        return True


@pytest.fixture
async def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool, "case", registry=test_registry)


@pytest.fixture
async def heard(store: EventStore, database_url: str) -> AsyncIterator[Heard]:
    h = Heard()
    conn = await asyncpg.connect(database_url)
    await conn.add_listener(store.appended_channel, h)
    yield h
    await conn.close()


async def test_the_appending_transaction_itself_sends_no_notify(pool: asyncpg.Pool) -> None:
    names = await pool.fetch(
        "SELECT tgname FROM pg_trigger WHERE tgrelid = '\"case\".event'::regclass"
        " AND NOT tgisinternal ORDER BY tgname"
    )
    assert [r["tgname"] for r in names] == ["event_append_only", "event_no_truncate"]


async def test_a_listener_hears_of_a_transaction_once_and_only_after_it_commits(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    called: list[bool] = []
    async with pool.acquire() as conn:
        store.on_append(lambda: called.append(conn.is_in_transaction()))
        async with conn.transaction():
            await store.append("s1", 0, [noted(1)], conn=conn)
            await store.append("s1", 1, [noted(2), noted(3)], conn=conn)
            await store.append("s2", 0, [noted(4)], conn=conn)
            await conn.execute("SELECT 1")
            await settle()
            assert called == []  # not before the commit
        await settle()
        assert called == [False]  # once for the transaction, after it
        await store.append("s3", 0, [noted(5)])  # its own transaction: at once
        assert called == [False, False]


async def test_a_rolled_back_transaction_is_never_announced(
    store: EventStore, pool: asyncpg.Pool, heard: Heard
) -> None:
    called: list[None] = []
    store.on_append(lambda: called.append(None))
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with conn.transaction():
                await store.append("s1", 0, [noted(1)], conn=conn)
                async with conn.transaction():  # a savepoint's end is not the commit
                    await store.append("s2", 0, [noted(2)], conn=conn)
                raise RuntimeError("the caller gives up")
        await settle()
        assert called == []
        with pytest.raises(ConcurrencyError):
            await store.append("s1", 5, [noted(3)])
    assert called == [] and not await heard.within(0.3)
    assert await store.stream_version("s1") == 0
    # The same connection's next transaction is watched afresh.
    async with pool.acquire() as conn, conn.transaction():
        await store.append("s1", 0, [noted(4)], conn=conn)
    await settle()
    assert called == [None]


async def test_another_process_hears_by_notify_unless_the_relay_listens_here(
    store: EventStore, pool: asyncpg.Pool, heard: Heard
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.append("s1", 0, [noted(1)], conn=conn)
        assert not await heard.within(0.2)  # nothing while it is open
    assert await heard.within(5)
    stop = store.on_append(lambda: None, relay=True)
    await store.append("s1", 1, [noted(2)])
    assert not await heard.within(0.3)  # the relay is here: nobody else needs to know
    stop()
    await store.append("s1", 2, [noted(3)])
    assert await heard.within(5)


async def test_commits_announced_together_are_told_by_one_notify(
    store: EventStore, heard: Heard
) -> None:
    # Forty commits announced back to back (no await between them, as when many
    # transactions commit in one turn of the loop): one NOTIFY, sent after all of them,
    # tells them all; never forty.
    for _ in range(40):
        store._committed()
    assert await heard.within(5)
    await asyncio.sleep(0.5)
    assert heard.count == 1
    # A commit after it went out is told again.
    await store.append("s1", 0, [noted(1)])
    assert await heard.within(5)
    assert heard.count == 2


async def test_the_relay_is_woken_by_commits_here_and_in_another_process(
    pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    stream = f"{namespace}_CASE".upper()
    await ensure_stream(js, stream_config(stream, [f"{namespace}.case.>"]))
    here = EventStore(pool, "case", registry=test_registry)
    elsewhere = EventStore(pool, "case", registry=test_registry)  # no relay of its own
    relay = Relay(
        here,
        js,
        subject_root=f"{namespace}.case",
        stream=stream,
        signer=EventSigner(SIGNING_KEYS["case"]),
        poll_seconds=60,  # only an announcement can wake it within the test
    )
    task = asyncio.create_task(relay.run())

    async def published(n: int) -> list[int]:
        async with asyncio.timeout(10):
            while relay.published < n:  # noqa: ASYNC110 - another task's counter
                await asyncio.sleep(0.01)
        info = await js.stream_info(stream)
        msgs = [await js.get_msg(stream, s) for s in range(1, info.state.last_seq + 1)]
        return [json.loads(m.data or b"{}")["data"]["n"] for m in msgs]

    try:
        await published(0)
        await asyncio.sleep(0.3)  # the relay is waiting, with its listener and LISTEN
        async with pool.acquire() as conn, conn.transaction():
            await here.append("a", 0, [noted(1)], conn=conn)
            await asyncio.sleep(0.2)  # committed late: the relay must not wait a poll
        assert await published(1) == [1]
        await elsewhere.append("b", 0, [noted(2)])
        assert await published(2) == [1, 2]
    finally:
        await cancel_until_done(task)
