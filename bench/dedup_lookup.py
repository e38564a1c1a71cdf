"""Duplicate lookup at intake with ``--cases`` people already indexed (``make bench``).

Fills ``"case".person_key`` of a fresh store with the blind keys of ``--cases`` invented
people (``bench/people.py``), then times, one at a time as intake does:
  * lookup: ``PersonIndex.find`` for a registration (half of them a variant of an indexed
    person, half someone new): the query an intake adds before it answers;
  * index: ``PersonIndex.index`` in a transaction (lookup, replace the case's keys,
    record the pairs found), what an intake with a profile adds to its write.
Prints p50/p95/p99, this process's CPU per call (the keys, their HMACs and asyncpg; the
database's own CPU is not in it) and the machine; figures, never assertions.

    python bench/dedup_lookup.py [--cases 100000] [--lookups 2000] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from datetime import UTC, date, datetime

from benchkit import BenchDatabase, machine, result
from dedup_quality import identity
from people import VARIANTS, first, people, variant

from services.case.app.duplicates import PersonIndex
from services.case.domain.person_keys import blind, stored_keys

KEY = bytes(range(32))
TODAY = date(2026, 11, 29)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--lookups", type=int, default=2000)
    ap.add_argument("--quick", action="store_true", help="300 lookups")
    args = ap.parse_args()
    if args.quick:
        args.lookups = 300
    print(machine())
    rng = random.Random(14)
    everyone = people(args.cases, rng)
    case_ids = [str(uuid.uuid4()) for _ in everyone]
    bench_db = await BenchDatabase.start(max_size=2)
    try:
        pool = bench_db.pool
        index = PersonIndex("case", KEY)
        started = time.perf_counter()
        rows = [
            (cid, k.kind, blind(KEY, k))
            for cid, p in zip(case_ids, everyone, strict=True)
            for k in stored_keys(identity(first(p)))
        ]
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "person_key", schema_name="case", records=rows, columns=["case_id", "kind", "key"]
            )
            await conn.execute('VACUUM ANALYZE "case".person_key')
        load_s = time.perf_counter() - started
        print(f"indexed {args.cases:,} cases ({len(rows):,} keys) in {load_s:.1f} s")

        probes = []
        for i in range(args.lookups):
            if i % 2 == 0:
                p = rng.choice(everyone)
                probes.append(identity(variant(p, VARIANTS[i % len(VARIANTS)], rng, TODAY)))
            else:
                probes.append(identity(first(people(1, rng)[0])))
        lookup_ms: list[float] = []
        found = 0
        cpu = time.process_time()
        async with pool.acquire() as conn:
            for who in probes:
                t = time.perf_counter()
                hits = await index.find(conn, str(uuid.uuid4()), index.keys_of(who))
                lookup_ms.append((time.perf_counter() - t) * 1000)
                found += bool(hits)
        cpu_ms = {"lookup": (time.process_time() - cpu) * 1000 / len(probes)}
        index_ms: list[float] = []
        now = datetime.now(UTC)
        cpu = time.process_time()
        async with pool.acquire() as conn:
            for who in probes[: max(100, args.lookups // 4)]:
                t = time.perf_counter()
                async with conn.transaction():
                    await index.index(conn, str(uuid.uuid4()), who, now)
                index_ms.append((time.perf_counter() - t) * 1000)
        cpu_ms["index"] = (time.process_time() - cpu) * 1000 / len(index_ms)
    finally:
        await bench_db.stop()
    print(f"| at {args.cases:,} cases | n | p50 | p95 | p99 | mean | CPU here |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, xs in (
        ("lookup (find)", lookup_ms),
        ("index (find + keys + pairs, commit)", index_ms),
    ):
        p50, p95, p99 = (percentile(xs, q) for q in (50, 95, 99))
        print(
            f"| {name} | {len(xs)} | {p50:.2f} ms | {p95:.2f} ms | {p99:.2f} ms"
            f" | {statistics.mean(xs):.2f} ms | {cpu_ms[name.split(' ')[0]]:.2f} ms |"
        )
        metric = name.split(" ")[0]
        result("dedup_lookup", f"cpu_ms.{metric}", cpu_ms[metric], "ms", cases=args.cases)
        for q, v in (("p50", p50), ("p95", p95), ("p99", p99)):
            result("dedup_lookup", f"{q}_ms.{metric}", v, "ms", cases=args.cases)
    print(f"lookups with a possible duplicate: {found} of {len(probes)}")


if __name__ == "__main__":
    asyncio.run(main())
