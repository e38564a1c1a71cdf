"""Read models rebuilt from the events alone (``safepath replay``).

A service lists its projections (``services/<svc>/projections.py``: ``PROJECTIONS``).
Each one names the tables it owns and an ``apply`` that folds a batch of stored events
into them; ``apply`` must be idempotent (upserts guarded by stream version), because the
live service applies the same events as it writes them. A rebuild empties the tables,
then replays the store in global order, saving its progress in the checkpoint table so
an interrupted rebuild resumes where it stopped instead of starting again.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from shared.eventstore import Checkpoint, EventStore, StoredEvent

Apply = Callable[[asyncpg.Connection, Sequence[StoredEvent]], Awaitable[None]]
Progress = Callable[[int, int, float], None]  # done, total, events per second


@dataclass(frozen=True)
class Projection:
    name: str
    tables: tuple[str, ...]  # fully qualified, quoted
    apply: Apply


async def rebuild(
    store: EventStore,
    projection: Projection,
    *,
    batch: int = 5000,
    progress: Progress | None = None,
    fresh: bool = False,
) -> int:
    """Rebuild ``projection``; resume an interrupted rebuild unless ``fresh``. Returns events."""
    marker = f"replay:{projection.name}"
    exists = await store.pool.fetchval(
        f'SELECT 1 FROM "{store.schema}".checkpoint WHERE name = $1', marker
    )
    if fresh or not exists:
        async with store.pool.acquire() as conn, conn.transaction():
            for table in projection.tables:
                await conn.execute(f"TRUNCATE {table}")
            await store.save_checkpoint(marker, Checkpoint(), conn=conn)
    cp = await store.get_checkpoint(marker)
    total = int(await store.pool.fetchval(f'SELECT count(*) FROM "{store.schema}".event'))
    done = int(
        await store.pool.fetchval(
            f'SELECT count(*) FROM "{store.schema}".event'
            " WHERE (tx_id, global_position) <= ($1::text::xid8, $2)",
            str(cp.tx_id),
            cp.position,
        )
    )
    started, start_done = time.monotonic(), done
    while True:
        events = await store.read_all(cp, batch)
        if not events:
            break
        async with store.pool.acquire() as conn, conn.transaction():
            await projection.apply(conn, events)
            cp = events[-1].checkpoint
            await store.save_checkpoint(marker, cp, conn=conn)
        done += len(events)
        if progress is not None:
            rate = (done - start_done) / max(time.monotonic() - started, 1e-9)
            progress(done, max(total, done), rate)
    await store.pool.execute(f'DELETE FROM "{store.schema}".checkpoint WHERE name = $1', marker)
    return done


def progress_bar(done: int, total: int, rate: float) -> None:
    import sys

    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(
        f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} events  {rate:,.0f} events/s"
    )
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()
