"""An event store in memory: the ``EventLog`` promises without a database.

For unit tests and tools. It keeps the same versions, hash chain and global order as the
Postgres store (the contract tests run against both). Each append is one "transaction"
(its own ``tx_id``) and is visible as soon as it returns; there are no concurrent
transactions to wait for, and ``conn`` is ignored. Stored events are copied in and out,
so nothing a caller does to what it reads changes the log.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from shared.digest import chain_hash
from shared.events.base import Event
from shared.events.registry import Registry
from shared.events.registry import registry as default_registry
from shared.eventstore import (
    Checkpoint,
    ConcurrencyError,
    NewEvent,
    StoredEvent,
    event_row,
)
from shared.times import Clock, utc_now


class InMemoryEventStore:
    """One service's event streams in a process's memory (gone when it ends)."""

    def __init__(
        self, service: str, *, registry: Registry = default_registry, clock: Clock = utc_now
    ) -> None:
        self.service = service
        self.registry = registry
        self.clock = clock
        self._streams: dict[str, list[StoredEvent]] = {}
        self._all: list[StoredEvent] = []
        self._checkpoints: dict[str, Checkpoint] = {}
        self._tx_id = 0
        self._listeners: list[Callable[[], None]] = []

    def on_append(self, listener: Callable[[], None], *, relay: bool = False) -> Callable[[], None]:
        # An append here is committed when it returns; ``relay`` changes nothing (no other
        # process shares this store).
        self._listeners.append(listener)

        def stop() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return stop

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        conn: Any | None = None,
    ) -> list[StoredEvent]:
        if not events:
            return []
        # No await from the check to the last write: appends cannot interleave.
        stream = self._streams.get(stream_id, [])
        if len(stream) != expected_version:
            raise ConcurrencyError(stream_id, expected_version, len(stream))
        self._tx_id += 1
        prev = stream[-1].hash if stream else None
        stored: list[StoredEvent] = []
        for i, new in enumerate(events, start=1):
            event = self._stored(stream_id, expected_version + i, len(self._all) + i, new, prev)
            stored.append(event)
            prev = event.hash
        self._streams[stream_id] = [*stream, *stored]
        self._all += stored
        for listener in list(self._listeners):
            listener()
        return copy.deepcopy(stored)

    def _stored(
        self, stream_id: str, version: int, position: int, new: NewEvent, prev: bytes | None
    ) -> StoredEvent:
        row = event_row(stream_id, version, new, self.clock)
        return StoredEvent(
            global_position=position,
            tx_id=self._tx_id,
            event_id=row.event_id,
            stream_id=stream_id,
            stream_version=version,
            event_type=row.type,
            occurred_at=row.at,
            data=row.data,
            metadata=row.meta,
            prev_hash=prev,
            hash=chain_hash(prev, row.digest),
        )

    async def stream_version(self, stream_id: str, *, conn: Any | None = None) -> int:
        return len(self._streams.get(stream_id, []))

    async def read_stream(
        self,
        stream_id: str,
        *,
        up_to_time: datetime | None = None,
        conn: Any | None = None,
    ) -> list[StoredEvent]:
        events = self._streams.get(stream_id, [])
        if up_to_time is not None:
            events = [e for e in events if e.occurred_at <= up_to_time]
        return copy.deepcopy(events)

    async def read_all(
        self, after: Checkpoint = Checkpoint(), limit: int = 500, *, conn: Any | None = None
    ) -> list[StoredEvent]:
        # Appended in global order already: (tx_id, position) only grows.
        return copy.deepcopy([e for e in self._all if e.checkpoint > after][:limit])

    def load(self, stored: StoredEvent) -> Event:
        return self.registry.load(stored.event_type, stored.data)

    async def get_checkpoint(self, name: str, *, conn: Any | None = None) -> Checkpoint:
        return self._checkpoints.get(name, Checkpoint())

    async def save_checkpoint(self, name: str, cp: Checkpoint, *, conn: Any | None = None) -> None:
        self._checkpoints[name] = Checkpoint(*cp)
