"""The application step every write shares: load, fold, decide, append — in one transaction.

A service passes its pure ``fold`` and ``decide``; this module does the I/O around them.
``expected_version`` (from ``If-Match``) makes a stale write fail instead of deciding on
state the caller never saw; the append itself always checks the version it loaded, so a
concurrent writer makes one of the two fail and nothing is overwritten.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg

from shared.envelope import Actor
from shared.events.base import Event
from shared.eventstore import ConcurrencyError, EventStore, NewEvent, StoredEvent

S = TypeVar("S")


class StaleVersion(Exception):
    """``If-Match`` named another version than the stream's current one (HTTP 412)."""

    def __init__(self, current: int) -> None:
        super().__init__(f"stream at version {current}")
        self.current = current


@dataclass(frozen=True)
class Loaded(Generic[S]):
    state: S | None
    version: int
    events: list[StoredEvent]


async def load(
    store: EventStore,
    stream_id: str,
    fold: Callable[[Sequence[Event]], S | None],
    *,
    conn: asyncpg.Connection | None = None,
    as_of: datetime | None = None,
) -> Loaded[S]:
    stored = await store.read_stream(stream_id, conn=conn, up_to_time=as_of)
    state = fold([store.load(e) for e in stored])
    return Loaded(state, stored[-1].stream_version if stored else 0, stored)


async def execute(
    store: EventStore,
    conn: asyncpg.Connection,
    stream_id: str,
    *,
    fold: Callable[[Sequence[Event]], S | None],
    decide: Callable[[S | None, Any, datetime], Sequence[Event]],
    command: Any,
    now: datetime,
    actor: Actor,
    correlation_id: str,
    causation_id: str | None = None,
    expected_version: int | None = None,
    new_stream: bool = False,
) -> tuple[list[StoredEvent], int]:
    """Decide ``command`` on the stream's current state and append the result.

    Raises ``ConcurrencyError`` when ``expected_version`` is stale (or a concurrent
    writer won), and whatever domain error ``decide`` raises. Returns the appended events
    and the stream's new version.

    ``new_stream``: the caller has just made up the stream's id (a fresh UUIDv7), so the
    stream is not read (a round trip that finds nothing): the command is decided on the
    empty stream's state and appended at version 0, which the append still checks (a
    stream that exists after all raises ``ConcurrencyError``; nothing is written).
    """
    if new_stream:
        loaded: Loaded[S] = Loaded(fold([]), 0, [])
    else:
        loaded = await load(store, stream_id, fold, conn=conn)
    if expected_version is not None and expected_version != loaded.version:
        raise ConcurrencyError(stream_id, expected_version, loaded.version)
    events = decide(loaded.state, command, now)
    if not events:
        return [], loaded.version
    stored = await store.append(
        stream_id,
        loaded.version,
        [
            NewEvent(e, actor, correlation_id, causation_id=causation_id, occurred_at=now)
            for e in events
        ],
        conn=conn,
    )
    return stored, stored[-1].stream_version
