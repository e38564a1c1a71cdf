"""Read models rebuilt from the events alone (``safepath replay``).

A service lists its projections (``services/<svc>/projections.py``: ``PROJECTIONS``).
Each one names the tables it owns and an ``apply`` that folds a batch of stored events
into them; ``apply`` must be idempotent (upserts guarded by stream version), because the
live service applies the same events as it writes them. ``apply`` is the definition of
the read model.

A projection may also give a set-based ``Rebuild``: the few event columns it needs and a
``fold`` that turns a whole batch of such rows into one write (fold per stream in memory,
then one ``unnest`` upsert or COPY). It must leave the tables exactly as ``apply`` over the
same events would (each projection proves it with a test); a rebuild then runs at the
speed of reading the store instead of one statement per event.

A rebuild empties the tables, then replays the store in global order, only reading
events of transactions that can no longer commit before them (as ``read_all``), saving
its progress in the checkpoint table in the transaction of each batch, so an interrupted
rebuild resumes where it stopped instead of starting again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg

from shared.eventstore import Checkpoint, EventStore, StoredEvent

Apply = Callable[[asyncpg.Connection, Sequence[StoredEvent]], Awaitable[None]]
FoldRows = Callable[[asyncpg.Connection, Sequence[asyncpg.Record]], Awaitable[None]]
Progress = Callable[[int, int, float], None]  # done, total, events per second


@dataclass(frozen=True)
class Rebuild:
    """A set-based rebuild: ``fold`` gets each batch, in global order, as records of
    ``(global_position, *columns)`` (``columns``: a select list over the service's
    ``event`` table) and writes its result in the transaction it is given."""

    columns: str
    fold: FoldRows


@dataclass(frozen=True)
class Projection:
    name: str
    tables: tuple[str, ...]  # fully qualified, quoted
    apply: Apply
    rebuild: Rebuild | None = None  # None: replay through ``apply``
    # Run once after the last batch, in its own transaction: a projection that also holds
    # what its service received (and recorded) derives that part again here.
    finish: Callable[[asyncpg.Connection], Awaitable[None]] | None = None
    # Run once on a connection of its own, in its own transaction, while the batches are
    # folded (from the end of the first batch, whose commit it must not wait for): the part
    # of ``finish`` that does not read what the batches write, so the database does it while
    # the fold keeps the client busy. ``finish`` runs after it has committed.
    alongside: Callable[[asyncpg.Connection], Awaitable[None]] | None = None
    # Run once after the batches and ``alongside`` have committed, in its own transaction,
    # before ``finish`` and ``indexes`` (which read or index what it writes): a projection
    # that writes its rows once all of them are known.
    settle: Callable[[asyncpg.Connection], Awaitable[None]] | None = None
    # Statements building the indexes a fold dropped (``CREATE INDEX IF NOT EXISTS``), run
    # once the batches and ``alongside`` are in, in a transaction of their own beside
    # ``finish`` (the database builds them while ``finish`` runs). The rebuild is done, and
    # its marker removed, only when both have committed.
    indexes: tuple[str, ...] = ()
    # The same for indexes on what ``settle`` only reads: built beside it instead (the
    # database builds them while ``settle`` writes, each on a core of its own).
    settle_indexes: tuple[str, ...] = ()


async def rebuild(
    store: EventStore,
    projection: Projection,
    *,
    batch: int = 50_000,
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
    ahead: asyncio.Task[tuple[list[asyncpg.Record], Checkpoint]] | None = None
    beside: asyncio.Task[None] | None = None
    try:
        while True:
            if projection.rebuild is None:
                n, cp = await _replay_batch(store, projection, cp, batch, marker)
            else:
                if ahead is None:
                    ahead = asyncio.ensure_future(_read_rows(store, projection.rebuild, cp, batch))
                rows, cp = await ahead
                # The next batch is read (by the database) while this one is folded (mostly
                # in Python): it starts where this one ends, whatever the fold writes.
                ahead = None
                if rows:
                    ahead = asyncio.ensure_future(_read_rows(store, projection.rebuild, cp, batch))
                    await _fold_rows(store, projection.rebuild, rows, cp, marker)
                n = len(rows)
            if beside is None and projection.alongside is not None:
                beside = asyncio.ensure_future(
                    _in_transaction(store, projection.alongside, durable=False)
                )
            if beside is not None and beside.done():
                beside.result()  # failed: stop now, not after the last batch
            if not n:
                break
            done += n
            if progress is not None:
                rate = (done - start_done) / max(time.monotonic() - started, 1e-9)
                progress(done, max(total, done), rate)
        if beside is not None:
            await beside
    finally:
        for task in (ahead, beside):  # the fold failed: neither is wanted (rolled back)
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
    await _beside(store, projection.settle, projection.settle_indexes)
    await _beside(store, projection.finish, projection.indexes)
    await store.pool.execute(f'DELETE FROM "{store.schema}".checkpoint WHERE name = $1', marker)
    return done


async def _beside(
    store: EventStore,
    work: Callable[[asyncpg.Connection], Awaitable[None]] | None,
    indexes: tuple[str, ...],
) -> None:
    """``work`` and the building of ``indexes``, each in a transaction of its own, at once;
    done when both have committed."""
    try:
        async with asyncio.TaskGroup() as group:  # one fails: the other is cancelled
            if work is not None:
                group.create_task(_in_transaction(store, work))
            if indexes:
                group.create_task(_in_transaction(store, _build(indexes)))
    except ExceptionGroup as failed:  # the caller sees the failure itself (the first)
        raise failed.exceptions[0] from failed


async def _in_transaction(
    store: EventStore, work: Callable[[asyncpg.Connection], Awaitable[None]], durable: bool = True
) -> None:
    """``work`` in a transaction of its own. Not ``durable``: committed like a batch (a crash
    may lose it, the marker stays, so a resumed rebuild runs it again; the next durable
    commit makes it durable too)."""
    async with store.pool.acquire() as conn, conn.transaction():
        if not durable:
            await conn.execute("SET LOCAL synchronous_commit = off")
        await work(conn)


def _build(statements: tuple[str, ...]) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    async def build(conn: asyncpg.Connection) -> None:
        # The sort of each index in memory (the default 64 MB spills to disk at 100,000s
        # of rows), for this transaction alone.
        await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
        for statement in statements:
            await conn.execute(statement)

    return build


async def _replay_batch(
    store: EventStore, projection: Projection, after: Checkpoint, limit: int, marker: str
) -> tuple[int, Checkpoint]:
    """Apply the next batch after ``after`` (through ``apply``) and save the checkpoint with
    it, in one transaction. Returns the events applied and the new checkpoint."""
    events = await store.read_all(after, limit)
    if not events:
        return 0, after
    async with store.pool.acquire() as conn, conn.transaction():
        await projection.apply(conn, events)
        await store.save_checkpoint(marker, events[-1].checkpoint, conn=conn)
    return len(events), events[-1].checkpoint


async def _read_rows(
    store: EventStore, rebuild: Rebuild, after: Checkpoint, limit: int
) -> tuple[list[asyncpg.Record], Checkpoint]:
    """The next batch after ``after`` for a set-based fold, and its checkpoint."""
    # The gap-safe order of ``EventStore.read_all``, with only the columns the fold needs.
    rows = await store.pool.fetch(
        f"""SELECT global_position, {rebuild.columns}
            FROM "{store.schema}".event
            WHERE (tx_id, global_position) > ($1::text::xid8, $2)
              AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
            ORDER BY tx_id, global_position
            LIMIT $3""",
        str(after.tx_id),
        after.position,
        limit,
    )
    if not rows:
        return [], after
    last = rows[-1][0]
    tx = await store.pool.fetchval(
        f'SELECT tx_id::text FROM "{store.schema}".event WHERE global_position = $1', last
    )
    return rows, Checkpoint(int(tx), last)


async def _fold_rows(
    store: EventStore, rebuild: Rebuild, rows: list[asyncpg.Record], cp: Checkpoint, marker: str
) -> None:
    """Fold a batch and save its checkpoint with it, in one transaction. Its commit does
    not wait for the disk: a crash may lose the last batches committed, but each with its
    checkpoint (one transaction), so a resumed rebuild folds them again."""
    async with store.pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off")
        await rebuild.fold(conn, rows)
        await store.save_checkpoint(marker, cp, conn=conn)


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
