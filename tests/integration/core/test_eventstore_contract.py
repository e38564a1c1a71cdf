"""The event store contract (``shared.eventlog.EventLog``), one test class run against every
implementation: in memory, and Postgres (a fresh database from the ``pool`` fixture).

What only Postgres can show (the database refusing UPDATE and DELETE, a global reader
waiting for a transaction that commits late, chains verified in SQL) stays in
``test_eventstore.py``.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from shared.digest import chain_hash, content_digest
from shared.eventlog import EventLog
from shared.eventstore import (
    Checkpoint,
    ConcurrencyError,
    EventStore,
    NewEvent,
    StoredEvent,
)
from shared.eventstore_memory import InMemoryEventStore
from tests.integration.core.events import ACTOR, Noted, noted, test_registry

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def n_of(store: EventLog, stored: StoredEvent) -> int:
    event = store.load(stored)
    assert isinstance(event, Noted)
    return event.n


def recomputed_hash(e: StoredEvent) -> bytes:
    digest = content_digest(
        e.event_id, e.stream_id, e.stream_version, e.event_type, e.occurred_at, e.data, e.metadata
    )
    return chain_hash(e.prev_hash, digest)


class EventLogContract:
    """Every event store keeps these promises. A subclass provides the ``store`` fixture."""

    # -- append, versions, conflicts ------------------------------------------------------

    async def test_events_come_back_in_version_order_as_written(self, store: EventLog) -> None:
        first = await store.append("s1", 0, [noted(1)])
        more = await store.append("s1", 1, [noted(2), noted(3)])
        events = await store.read_stream("s1")
        assert [e.stream_version for e in events] == [1, 2, 3]
        assert [store.load(e) for e in events] == [Noted(n=1), Noted(n=2), Noted(n=3)]
        assert [e.event_id for e in events] == [e.event_id for e in first + more]
        assert events[0].metadata == {"actor": "caseworker:tester", "correlationid": "corr-1"}
        assert await store.stream_version("s1") == 3
        assert await store.stream_version("unknown") == 0
        assert await store.read_stream("unknown") == []

    async def test_a_causation_id_and_the_time_are_kept(self, store: EventLog) -> None:
        new = NewEvent(Noted(n=1), ACTOR, "corr", causation_id="cause-1", occurred_at=NOON)
        (stored,) = await store.append("s1", 0, [new])
        (read,) = await store.read_stream("s1")
        assert read.metadata["causationid"] == "cause-1"
        assert read.occurred_at == stored.occurred_at == NOON

    async def test_each_event_hashes_onto_the_one_before_it(self, store: EventLog) -> None:
        await store.append("s1", 0, [noted(1), noted(2)])
        await store.append("other", 0, [noted(9)])
        await store.append("s1", 2, [noted(3)])
        events = await store.read_stream("s1")
        assert events[0].prev_hash is None
        assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
        assert all(e.hash == recomputed_hash(e) for e in events)

    async def test_a_stale_expected_version_raises_and_writes_nothing(
        self, store: EventLog
    ) -> None:
        await store.append("s1", 0, [noted(1)])
        with pytest.raises(ConcurrencyError) as err:
            await store.append("s1", 0, [noted(2)])
        assert (err.value.stream_id, err.value.expected, err.value.actual) == ("s1", 0, 1)
        with pytest.raises(ConcurrencyError) as ahead:
            await store.append("s1", 5, [noted(2), noted(3)])
        assert (ahead.value.expected, ahead.value.actual) == (5, 1)
        with pytest.raises(ConcurrencyError):
            await store.append("new", 1, [noted(4)])  # a new stream is at version 0
        assert [e.stream_version for e in await store.read_stream("s1")] == [1]
        assert await store.stream_version("new") == 0
        assert len(await store.read_all()) == 1

    async def test_of_writers_that_loaded_the_same_version_one_wins(self, store: EventLog) -> None:
        await store.append("s1", 0, [noted(0)])
        results = await asyncio.gather(
            *(store.append("s1", 1, [noted(i), noted(i)]) for i in range(8)),
            return_exceptions=True,
        )
        wins = [r for r in results if not isinstance(r, BaseException)]
        losses = [r for r in results if isinstance(r, ConcurrencyError)]
        assert len(wins) == 1 and len(losses) == 7
        assert await store.stream_version("s1") == 3

    async def test_appending_nothing_changes_nothing(self, store: EventLog) -> None:
        called: list[None] = []
        store.on_append(lambda: called.append(None))
        assert await store.append("s1", 0, []) == []
        assert await store.stream_version("s1") == 0 and called == []

    async def test_listeners_hear_of_each_append_and_not_of_a_refused_one(
        self, store: EventLog
    ) -> None:
        called: list[None] = []
        store.on_append(lambda: called.append(None))
        await store.append("s1", 0, [noted(1), noted(2)])
        with pytest.raises(ConcurrencyError):
            await store.append("s1", 0, [noted(3)])
        assert len(called) == 1

    # -- reading a stream ------------------------------------------------------------------

    async def test_read_stream_up_to_a_moment_includes_that_moment(self, store: EventLog) -> None:
        for i in range(3):
            at = NOON + timedelta(hours=i)
            await store.append("s1", i, [NewEvent(Noted(n=i), ACTOR, "c", occurred_at=at)])
        upto = await store.read_stream("s1", up_to_time=NOON + timedelta(hours=1))
        assert [e.stream_version for e in upto] == [1, 2]
        assert await store.read_stream("s1", up_to_time=NOON - timedelta(microseconds=1)) == []

    async def test_what_a_reader_does_to_its_copy_does_not_change_the_log(
        self, store: EventLog
    ) -> None:
        (written,) = await store.append("s1", 0, [noted(1, "kept")])
        written.data["text"] = "changed by the writer"
        (read,) = await store.read_stream("s1")
        read.data["text"] = "changed by a reader"
        read.metadata["actor"] = "admin:someone-else"
        with pytest.raises(dataclasses.FrozenInstanceError):
            read.stream_version = 7  # type: ignore[misc]
        (again,) = await store.read_stream("s1")
        assert again.data["text"] == "kept" and again.metadata["actor"] == "caseworker:tester"
        assert again.hash == recomputed_hash(again)

    # -- the global order --------------------------------------------------------------------

    async def test_read_all_follows_the_order_of_appends_across_streams(
        self, store: EventLog
    ) -> None:
        await store.append("a", 0, [noted(1), noted(2)])
        await store.append("b", 0, [noted(3)])
        await store.append("a", 2, [noted(4)])
        events = await store.read_all()
        assert [store.load(e) for e in events] == [Noted(n=n) for n in (1, 2, 3, 4)]
        assert [e.checkpoint for e in events] == sorted(e.checkpoint for e in events)
        assert len({e.checkpoint for e in events}) == 4
        # One append is one transaction: its events share a tx_id.
        assert events[0].tx_id == events[1].tx_id != events[2].tx_id

    async def test_reading_on_from_checkpoints_yields_each_event_exactly_once(
        self, store: EventLog
    ) -> None:
        for i in range(5):
            await store.append(f"s{i % 2}", 2 * (i // 2), [noted(i), noted(10 + i)])
        seen: list[int] = []
        after = Checkpoint()
        for _ in range(10):  # bounded: a store that repeats events must fail, not hang
            page = await store.read_all(after, limit=3)
            if not page:
                break
            assert len(page) <= 3
            seen += [n_of(store, e) for e in page]
            after = page[-1].checkpoint
            if len(seen) == 3:  # written while the reader is part way: read later, once
                await store.append("late", 0, [noted(100)])
        assert sorted(seen) == sorted([*range(5), *range(10, 15), 100])
        assert len(seen) == len(set(seen))
        assert await store.read_all(after) == []

    async def test_each_stream_keeps_its_version_order_in_the_global_order(
        self, store: EventLog
    ) -> None:
        async def writer(stream: str) -> None:
            for v in range(5):
                await store.append(stream, v, [noted(v)])

        await asyncio.gather(*(writer(f"w{i}") for i in range(4)))
        events = await store.read_all(limit=1000)
        assert len(events) == 20
        for stream in {e.stream_id for e in events}:
            versions = [e.stream_version for e in events if e.stream_id == stream]
            assert versions == [1, 2, 3, 4, 5]

    # -- checkpoints -------------------------------------------------------------------------

    async def test_a_saved_checkpoint_is_read_back(self, store: EventLog) -> None:
        assert await store.get_checkpoint("relay") == Checkpoint()
        (e,) = await store.append("s1", 0, [noted(1)])
        await store.save_checkpoint("relay", e.checkpoint)
        await store.save_checkpoint("other", Checkpoint())
        assert await store.get_checkpoint("relay") == e.checkpoint
        later = Checkpoint(e.tx_id + 1, e.global_position + 1)
        await store.save_checkpoint("relay", later)
        assert await store.get_checkpoint("relay") == later
        assert await store.get_checkpoint("other") == Checkpoint()


class TestInMemoryEventStore(EventLogContract):
    @pytest.fixture
    def store(self) -> EventLog:
        return InMemoryEventStore("case", registry=test_registry)


class TestPostgresEventStore(EventLogContract):
    @pytest.fixture
    def store(self, pool: asyncpg.Pool) -> EventLog:  # only this class needs the servers
        return EventStore(pool, "case", registry=test_registry)
