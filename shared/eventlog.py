"""What every event store promises: the port the application layer writes against.

Two adapters keep these promises, each checked by the same contract tests
(``tests/integration/core/test_eventstore_contract.py``): ``shared.eventstore.EventStore``
(Postgres, the system of record) and ``shared.eventstore_memory.InMemoryEventStore`` (for
tests and tools that need no database). Guarantees only Postgres can give (the database
refusing UPDATE and DELETE, readers that wait for concurrent transactions) are proven
against the real server as well (``tests/integration/core/test_eventstore.py``).

``conn`` is the adapter's transaction handle: an asyncpg connection for Postgres, to join
the caller's transaction; the in-memory store has no transactions and ignores it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shared.events.base import Event
from shared.eventstore import Checkpoint, NewEvent, StoredEvent


class EventLog(Protocol):
    """Append-only event streams with versions and one global order."""

    async def append(
        self,
        stream_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        *,
        conn: Any | None = None,
    ) -> list[StoredEvent]:
        """Append ``events`` to ``stream_id`` if, and only if, the stream is at
        ``expected_version`` (0: the stream is new); they get the versions that follow.

        All or nothing: on any other version it raises ``ConcurrencyError`` (with the
        expected and the actual version) and writes none of them; of two writers that
        loaded the same version exactly one succeeds. Each stored event carries
        ``prev_hash`` (the hash of the event before it in its stream, None for the first)
        and ``hash = chain_hash(prev_hash, content_digest(...))``. Appending nothing
        returns ``[]`` and changes nothing."""
        ...

    async def stream_version(self, stream_id: str, *, conn: Any | None = None) -> int:
        """The stream's current version: its number of events (0 for an unknown stream)."""
        ...

    async def read_stream(
        self,
        stream_id: str,
        *,
        up_to_time: datetime | None = None,
        conn: Any | None = None,
    ) -> list[StoredEvent]:
        """The stream's events in version order, 1 to n, none missing; with ``up_to_time``
        those that occurred at or before it. Nothing a caller does to what it gets back
        changes the stored events (append-only: no event is ever changed or removed)."""
        ...

    async def read_all(
        self, after: Checkpoint = Checkpoint(), limit: int = 500, *, conn: Any | None = None
    ) -> list[StoredEvent]:
        """At most ``limit`` events after ``after``, in the global order
        ``(tx_id, global_position)``, which keeps each stream's version order. Reading on
        from the last event's ``checkpoint`` yields every event exactly once: none is
        skipped (an event that could still be preceded by an unfinished append is held
        back until it cannot), none is repeated."""
        ...

    def load(self, stored: StoredEvent) -> Event:
        """The stored event as its current schema (upcast when older code wrote it)."""
        ...

    async def get_checkpoint(self, name: str, *, conn: Any | None = None) -> Checkpoint:
        """The reader ``name``'s saved position (``Checkpoint()`` before its first save)."""
        ...

    async def save_checkpoint(self, name: str, cp: Checkpoint, *, conn: Any | None = None) -> None:
        """Save the reader ``name``'s position (replacing the one before)."""
        ...

    def on_append(self, listener: Callable[[], None], *, relay: bool = False) -> Callable[[], None]:
        """Call ``listener`` after every append once it is committed (never after a refused
        one); returns the call that stops it. ``relay``: the listener is this store's relay."""
        ...


if TYPE_CHECKING:  # mypy holds both adapters to the port's signatures
    from shared.eventstore import EventStore
    from shared.eventstore_memory import InMemoryEventStore

    def _adapters(postgres: EventStore, memory: InMemoryEventStore) -> list[EventLog]:
        return [postgres, memory]
