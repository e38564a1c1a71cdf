"""The directory as routing sees it: folded from the ``directory`` stream, under a lock.

Concurrency: every decision that routes (open, decline, escalate) or counts places
(accept) takes the directory lock in *shared* mode for its transaction, then catches the
in-memory view up with the directory events committed so far. Directory writes (API,
start-up import) take it *exclusively*. So a routing decision always uses the directory
exactly as it stands when it is made (no directory change can commit halfway through), and
several service instances agree without talking to each other.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import asyncpg

from services.referral.app.directory_file import load_directory
from services.referral.domain.directory_view import (
    DirectoryView,
    evolve_directory,
    import_directory,
)
from shared.envelope import Actor
from shared.events.base import Event
from shared.eventstore import EventStore, NewEvent
from shared.ids import uuid7
from shared.migrations import quote_ident

DIRECTORY_STREAM = "directory"
_LOCK_SPACE = 7427042  # advisory lock key space of the referral service
_DIRECTORY_KEY = 1


class DirectoryCache:
    """The last directory view folded from the stream, and the stream version it is at."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.view = DirectoryView()
        self.version = 0
        self._sql = (
            f"SELECT stream_version, event_type, data::text AS data"
            f" FROM {quote_ident(store.schema)}.event"
            f" WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version"
        )

    async def current(self, conn: asyncpg.Connection) -> tuple[DirectoryView, int]:
        """The view with every committed directory event (call under the directory lock)."""
        view, version = self.view, self.version
        rows = await conn.fetch(self._sql, DIRECTORY_STREAM, version)
        for row in rows:
            view = evolve_directory(
                view, self.store.registry.load(row["event_type"], json.loads(row["data"]))
            )
            version = row["stream_version"]
        if version > self.version:  # another task may have caught up further meanwhile
            self.view, self.version = view, version
        return view, version


async def lock_directory(conn: asyncpg.Connection, *, exclusive: bool) -> None:
    fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    await conn.execute(f"SELECT {fn}($1, $2)", _LOCK_SPACE, _DIRECTORY_KEY)


async def lock_provider_places(conn: asyncpg.Connection, provider_id: str) -> None:
    """Serialise accepts of one provider, so two cannot take its last place together."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_SPACE, "places:" + provider_id
    )


async def places_in_use(conn: asyncpg.Connection, schema: str) -> dict[str, int]:
    """Places taken per provider (capacity.py's rule: accepted until completed/withdrawn)."""
    rows = await conn.fetch(
        f"SELECT provider_id, count(*) AS n FROM {quote_ident(schema)}.referral_view"
        " WHERE status IN ('accepted', 'in_service') GROUP BY provider_id"
    )
    return {r["provider_id"]: int(r["n"]) for r in rows}


async def routing_view(conn: asyncpg.Connection, cache: DirectoryCache) -> DirectoryView:
    """The directory with places in use, as it stands now, for a routing decision."""
    await lock_directory(conn, exclusive=False)
    view, _ = await cache.current(conn)
    return view.with_in_use(await places_in_use(conn, cache.store.schema))


async def append_directory(
    conn: asyncpg.Connection,
    cache: DirectoryCache,
    version: int,
    events: Sequence[Event],
    actor: Actor,
    correlation_id: str,
) -> None:
    """Append directory events (caller holds the exclusive lock and owns the transaction)."""
    if events:
        await cache.store.append(
            DIRECTORY_STREAM,
            version,
            [NewEvent(e, actor, correlation_id) for e in events],
            conn=conn,
        )


async def import_directory_file(pool: asyncpg.Pool, cache: DirectoryCache, path: Path) -> int:
    """Bring the stored directory up to the file's version; the number of events written."""
    directory = load_directory(path)
    async with pool.acquire() as conn, conn.transaction():
        await lock_directory(conn, exclusive=True)
        view, version = await cache.current(conn)
        events = import_directory(view, directory)
        await append_directory(
            conn, cache, version, events, Actor.service("referral"), str(uuid7())
        )
    return len(events)
