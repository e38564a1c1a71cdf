"""Replay and verification speed (``make bench``; not a test).

Generates N events (real case events: each stream is a CaseOpened followed by notes,
with correct hashes, each with a UUID correlation id in its metadata as the services
write it; before 2026-12-03 evening the metadata held the word ``bench``) straight into a
fresh store, then prints:
  * rebuild: the case service's ``case_summary`` projection from all N events, events/s
    (``shared.projections.rebuild``, as ``safepath replay`` runs it);
  * single case: ``read_stream`` + the case domain's ``fold`` of one 1,000-event case;
  * verify: ``shared.chain.verify_chains`` over all N events, events/s, in one process
    (with its client CPU per event) and in one worker process per CPU (a store under
    ``PARALLEL_FROM`` events, as the quick run's, is verified in one process either way),
    ``--rounds`` times each in turns, best of each; with ``--against DIR`` also by another
    checkout's code in one process, on the same store in the same turns (before/after);
    with ``--audit`` also ``shared.audit.verify_service`` (chains, then the Merkle leaves
    from the digests kept; no checkpoints) in one process and with workers.
    python bench/replay.py [--events 1000000] [--quick] [--rounds 2] [--against DIR] [--audit]
    (quick: 20,000 events)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from benchkit import BenchDatabase, result

from services.case.domain import fold
from services.case.projections import PROJECTIONS
from shared.digest import _content_digest, canonical_text, chain_hash
from shared.events.base import Sealed
from shared.events.case import CaseNoteAdded, CaseOpened
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.projections import rebuild

# This checkout (bench/verify_child.py verifies with its code unless told another).
HERE = str(Path(__file__).resolve().parent.parent)
ACTOR = "caseworker:bench"
SEALED = Sealed(kid="k", nonce="AAAAAAAAAAAAAAAA", ct="Y2lwaGVydGV4dA==")


def stream_rows(case_id: str, n: int, t0: datetime) -> list[tuple[object, ...]]:
    rows = []
    prev: bytes | None = None
    for v in range(1, n + 1):
        if v == 1:
            ev: CaseOpened | CaseNoteAdded = CaseOpened(
                caseworker="bench", office="khujand", region="sughd", categories=["trafficking"]
            )
        else:
            ev = CaseNoteAdded(note_id=f"n{v}", note=SEALED)
        data = canonical_text(ev.model_dump(mode="json"))
        eid, at = uuid7(), t0 + timedelta(microseconds=v)
        # Each event its own request's correlation id, a UUID as the services write it (a
        # UUID's text holds ``e-`` one time in four: the canonical form's number check).
        meta = canonical_text({"actor": ACTOR, "correlationid": str(uuid7())})
        digest = _content_digest(eid, case_id, v, ev.type_name(), at, data, meta)
        h = chain_hash(prev, digest)
        rows.append((eid, case_id, v, ev.type_name(), at, data, meta, prev, h))
        prev = h
    return rows


async def generate(pool: asyncpg.Pool, total: int, per_stream: int) -> str:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    big = str(uuid.uuid4())
    plan = [(big, 1000)]
    left = total - 1000
    while left > 0:
        n = min(per_stream, left)
        plan.append((str(uuid.uuid4()), n))
        left -= n
    cols = [
        "event_id",
        "stream_id",
        "stream_version",
        "event_type",
        "occurred_at",
        "data",
        "metadata",
        "prev_hash",
        "hash",
    ]
    async with pool.acquire() as conn:
        batch: list[tuple[object, ...]] = []
        for sid, n in plan:
            batch.extend(stream_rows(sid, n, t0))
            if len(batch) >= 50_000:
                await conn.copy_records_to_table(
                    "event", schema_name="case", records=batch, columns=cols
                )
                batch = []
        if batch:
            await conn.copy_records_to_table(
                "event", schema_name="case", records=batch, columns=cols
            )
    return big


def machine() -> str:
    with open("/proc/cpuinfo") as f:
        names = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")]
    return names[0] if names else platform.processor()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--per-stream", type=int, default=100)
    ap.add_argument("--quick", action="store_true", help="20,000 events")
    ap.add_argument("--rounds", type=int, default=2, help="verification runs of each kind")
    ap.add_argument("--against", metavar="DIR", help="also verify with this checkout's code")
    ap.add_argument("--audit", action="store_true", help="also time audit verify's two passes")
    args = ap.parse_args()
    if args.quick:
        args.events = 20_000
    bench_db = await BenchDatabase.start(max_size=4)
    try:
        pool = bench_db.pool
        store = EventStore(pool, "case")
        t = time.perf_counter()
        big = await generate(pool, args.events, args.per_stream)
        print(f"generated {args.events:,} events in {time.perf_counter() - t:.1f} s")
        await pool.execute('VACUUM ANALYZE "case".event')

        t = time.perf_counter()
        n = await rebuild(store, PROJECTIONS["case_summary"], fresh=True)  # as `safepath replay`
        rebuild_rate = n / (time.perf_counter() - t)

        timings = []
        for _ in range(5):
            t = time.perf_counter()
            stored = await store.read_stream(big)
            state = fold([store.load(e) for e in stored])
            timings.append(time.perf_counter() - t)
            assert state is not None and len(stored) == 1000
        single_ms = min(timings) * 1000

        # One process, then one per CPU (the default of `safepath audit verify`), and with
        # --against another checkout in one process, on this store, in turns; best of
        # each. Each runs in a process of its own (bench/verify_child.py); the parallel
        # figure includes starting its workers.
        jobs = os.cpu_count() or 1
        runs = [
            ("verify hash chains", "one process", HERE, 1),
            ("verify hash chains", f"{jobs} worker processes", HERE, jobs),
        ]
        if args.against:
            runs.append(("verify hash chains", f"one process, {args.against}", args.against, 1))
            runs.append(
                (
                    "verify hash chains",
                    f"{jobs} worker processes, {args.against}",
                    args.against,
                    jobs,
                )
            )
        if args.audit:
            runs.append(("audit verify (chains, leaves)", "one process", HERE, 1))
            runs.append(("audit verify (chains, leaves)", f"{jobs} worker processes", HERE, jobs))
        verify = [(0.0, 0.0)] * len(runs)  # per run: best events/s, its CPU µs per event
        for _ in range(args.rounds):
            for i, (what, _name, root, workers) in enumerate(runs):
                mode = "audit" if what.startswith("audit") else "chains"
                rate, cpu_us = verify_in_child(root, bench_db.dsn, workers, args.events, mode)
                verify[i] = max(verify[i], (rate, cpu_us))
    finally:
        await bench_db.stop()
    cpu = machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print("| measure | result | target |")
    print("|---|---:|---:|")
    print(
        f"| rebuild case_summary from {args.events:,} events | {rebuild_rate:,.0f} events/s"
        " | >= 100,000 events/s |"
    )
    print(
        f"| replay one case of 1,000 events (read + fold, best of 5) | {single_ms:.1f} ms"
        " | <= 20 ms |"
    )
    for (what, name, _root, workers), (rate, cpu_us) in zip(runs, verify, strict=True):
        cpu = f", client CPU {cpu_us:.2f} µs/event" if workers == 1 else ""
        target = ">= 200,000 events/s" if what.startswith("verify") else "-"
        print(
            f"| {what} of {args.events:,} events, {name} | {rate:,.0f} events/s{cpu} | {target} |"
        )
    result("replay", "rebuild_events_per_s", rebuild_rate, "events/s", events=args.events)
    result("replay", "replay_one_case_ms", single_ms, "ms", events=1000)
    one, many = verify[0], verify[1]
    result("replay", "verify_events_per_s", one[0], "events/s", events=args.events)
    result("replay", "verify_client_cpu_us", one[1], "µs/event", events=args.events)
    result(
        "replay",
        "verify_parallel_events_per_s",
        many[0],
        "events/s",
        events=args.events,
        workers=jobs,
    )
    if args.audit:
        audit_one, audit_many = verify[-2], verify[-1]
        result("replay", "audit_events_per_s", audit_one[0], "events/s", events=args.events)
        result(
            "replay",
            "audit_parallel_events_per_s",
            audit_many[0],
            "events/s",
            events=args.events,
            workers=jobs,
        )
    if args.against:
        other = verify[2]
        result("replay", "verify_against_events_per_s", other[0], "events/s", events=args.events)
        result("replay", "verify_against_client_cpu_us", other[1], "µs/event", events=args.events)
        result(
            "replay",
            "verify_against_parallel_events_per_s",
            verify[3][0],
            "events/s",
            events=args.events,
            workers=jobs,
        )


def verify_in_child(
    root: str, dsn: str, workers: int, events: int, what: str
) -> tuple[float, float]:
    """Events/s and CPU µs per event of one verification (``what``: chains or audit) by
    ``root``'s code."""
    child = str(Path(HERE) / "bench" / "verify_child.py")
    out = subprocess.run(
        [sys.executable, child, root, dsn, str(workers), what],
        capture_output=True,
        text=True,
    )
    if out.returncode:
        raise SystemExit(f"verification by {root} failed:\n{out.stderr}")
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc["ok"] and doc["events"] == events, doc
    return doc["events"] / doc["wall"], doc["cpu"] / doc["events"] * 1e6


if __name__ == "__main__":
    asyncio.run(main())
