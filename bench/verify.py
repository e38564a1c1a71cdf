"""Audit verification speed (issue 12; not a test).

Writes a generated store of N events straight into a fresh Postgres (embedded, fsync on;
or ``SAFEPATH_BENCH_DATABASE_URL``): streams of 1 to 200 events whose data is of the
shapes the services store (sealed fields, Cyrillic and other non-ASCII text, nested
objects, lists, integers (2% past 64 bits), floats (2% below 1e-4), empty containers,
escapes and control characters), each hashed with a reference encoder written out in
this file (``json.loads`` then ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``), then measures, best of ``--rounds``:

  * ``chains``: ``shared.chain.verify_chains`` over the whole store (what the issue's
    "chain verification" figure is);
  * ``leaves``: ``shared.audit.store_leaves`` alone (the Merkle leaves in global order,
    every event hashed);
  * ``verify_service``: ``shared.audit.verify_service``, chains and leaves and the
    recorded leaves (``safepath audit verify`` less the JetStream reads; no checkpoints);
  * ``digest`` and ``digest_reference``: the content digest of every stored event
    recomputed from rows already fetched, by ``shared.chain.row_digest`` and by the
    reference, without Postgres.

Beside wall time it prints the CPU time per event of this process and of the Postgres
backend serving it (one connection), which a busy machine disturbs less.

It also proves the digests: every stored event's digest recomputed by the code under
test equals the reference's (the count is printed), and ``verify_chains`` finds no break.

    python bench/verify.py [--events 20000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from benchkit import BenchDatabase, machine, result

from shared import chain
from shared.audit import store_leaves, verify_service

_REF = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
SCHEMA = "case"
TABLE = f'"{SCHEMA}".event'

WORDS = [
    "Душанбе", "Худжанд", "Курган-Тюбе", "перемещённые", "жертва", "торговли", "людьми",
    "обращение", "гуманитарная", "помощь", "kʻalaqa", "Ўзбекистон", "ёрдам", "Қўқон",
    "الشاش", "referral", "shelter", "medical", "legal", "psychosocial", "ordnance", "😀",
    'quote"d', "back\\slash", "tab\there", "line\nbreak", "a/b", "\u2028\u2029", "\x7f",
    "ctl\x01\x1f",
]  # fmt: skip


def _text(rnd: random.Random, n: int) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def _sealed(rnd: random.Random) -> dict[str, str]:
    return {
        "kid": "k1",
        "nonce": rnd.randbytes(12).hex(),
        "ct": rnd.randbytes(rnd.randint(24, 120)).hex(),
    }


def event_data(rnd: random.Random, kind: int) -> tuple[str, dict[str, Any]]:
    """(event type, data) of a realistic shape."""
    if kind == 0:
        return "safepath.case.v1.CaseOpened", {
            "caseworker": f"cw-{rnd.randint(1, 500)}",
            "office": rnd.choice(["khujand", "dushanbe", "bokhtar"]),
            "region": rnd.choice(["sughd", "khatlon", "ГБАО"]),
            "categories": rnd.sample(["trafficking", "eo", "displacement", "gbv"], 2),
            "person": _sealed(rnd),
            "household": {"adults": rnd.randint(1, 4), "children": rnd.randint(0, 6)},
        }
    if kind == 1:
        return "safepath.case.v1.CaseNoteAdded", {
            "note_id": f"n{rnd.randint(1, 10**6)}",
            "note": _sealed(rnd),
            "tags": [],
            "summary": _text(rnd, rnd.randint(2, 12)),
        }
    if kind == 2:
        return "safepath.referral.v1.ReferralMade", {
            "referral_id": str(uuid.UUID(int=rnd.getrandbits(128))),
            "needs": [
                {"need": rnd.choice(["shelter", "medical", "legal"]), "urgency": rnd.randint(1, 5),
                 "notes": {"ru": _text(rnd, 3), "tg": _text(rnd, 2)}}
                for _ in range(rnd.randint(1, 4))
            ],
            "distance_km": round(rnd.uniform(0, 300), rnd.randint(0, 3)),
            "score": rnd.choice([1e-05, 1e-07, 5e-324]) if rnd.random() < 0.02
            else rnd.choice([0.5, 12.0, 0.1 + 0.2, 3.14159, 0.0001]),
            "deep": {"a": {"b": {"c": {"d": [[[], {}], [1, [2, [3]]]]}}}},
        }  # fmt: skip
    return "safepath.case.v1.CaseAssessed", {
        "assessment": {
            "risk": rnd.randint(0, 10),
            "big": rnd.choice([2**64 + 7, -(2**70), 10**30])
            if rnd.random() < 0.02
            else rnd.choice([2**63 - 1, 2**64 - 1, -(2**63), 0, 10**15]),
            "flags": {f"f{i}": rnd.choice([True, False, None]) for i in range(rnd.randint(0, 6))},
            "Ключ": _text(rnd, 2),
            "é": 1,
            "E": 2,
            "": "empty key",
        },
    }


def _ref_digest(
    eid: str, sid: str, v: int, typ: str, at: datetime, data_text: str, meta_text: str
) -> bytes:
    doc = {
        "data": json.loads(data_text),
        "id": eid,
        "metadata": json.loads(meta_text),
        "stream_id": sid,
        "stream_version": v,
        "time": at.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z"),
        "type": typ,
    }
    return hashlib.sha256(_REF.encode(doc).encode()).digest()


async def generate(pool: asyncpg.Pool, total: int, seed: int) -> None:
    rnd = random.Random(seed)
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    cols = ["event_id", "stream_id", "stream_version", "event_type", "occurred_at", "data",
            "metadata", "prev_hash", "hash"]  # fmt: skip
    rows: list[tuple[object, ...]] = []
    made = 0
    while made < total:
        sid = str(uuid.UUID(int=rnd.getrandbits(128)))
        prev: bytes | None = None
        for v in range(1, min(rnd.randint(1, 200), total - made) + 1):
            typ, data = event_data(rnd, 0 if v == 1 else rnd.randint(1, 3))
            meta: dict[str, Any] = {
                "actor": f"caseworker:{rnd.randint(1, 99)}",
                "correlationid": uuid.UUID(int=rnd.getrandbits(128)).hex,
            }
            if rnd.random() < 0.5:
                meta["causationid"] = str(uuid.UUID(int=rnd.getrandbits(128)))
            if rnd.random() < 0.5:
                meta["traceparent"] = f"00-{rnd.randbytes(16).hex()}-{rnd.randbytes(8).hex()}-01"
            eid = uuid.UUID(int=rnd.getrandbits(128))
            at = t0 + timedelta(seconds=made, microseconds=rnd.randint(0, 999_999))
            data_text, meta_text = _REF.encode(data), _REF.encode(meta)
            h = hashlib.sha256(
                (prev or b"") + _ref_digest(str(eid), sid, v, typ, at, data_text, meta_text)
            ).digest()
            rows.append((eid, sid, v, typ, at, data_text, meta_text, prev, h))
            prev = h
            made += 1
    async with pool.acquire() as conn:
        for i in range(0, len(rows), 20_000):
            await conn.copy_records_to_table(
                "event", schema_name=SCHEMA, records=rows[i : i + 20_000], columns=cols
            )


async def prove(pool: asyncpg.Pool) -> tuple[int, int]:
    """(events, events whose digest by shared.chain equals the reference's)."""
    rows = await pool.fetch(
        f"SELECT {chain.COLUMNS} FROM {TABLE} ORDER BY stream_id, stream_version"
    )
    same = 0
    for r in rows:
        ref = _ref_digest(
            str(r["event_id"]), r["stream_id"], r["stream_version"], r["event_type"],
            r["occurred_at"], r["data"], r["metadata"],
        )  # fmt: skip
        same += chain.row_digest(r, r["stream_version"]) == ref
    return len(rows), same


def _proc_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of process ``pid`` so far (0 if unreadable)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Best:
    """Best (least) wall time, and client and Postgres CPU time, per measure."""

    def __init__(self, backend: int | None) -> None:
        self.backend = backend
        self.wall: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.pg_cpu: dict[str, float] = {}

    async def run(self, name: str, coro: Any) -> Any:
        w, c, p = time.perf_counter(), time.process_time(), _proc_cpu(self.backend)
        out = await coro
        self.keep(name, time.perf_counter() - w, time.process_time() - c,
                  _proc_cpu(self.backend) - p)  # fmt: skip
        return out

    def keep(self, name: str, wall: float, cpu: float, pg_cpu: float = 0.0) -> None:
        self.wall[name] = min(self.wall.get(name, 1e9), wall)
        self.cpu[name] = min(self.cpu.get(name, 1e9), cpu)
        self.pg_cpu[name] = min(self.pg_cpu.get(name, 1e9), pg_cpu)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=12)
    ap.add_argument("--quick", action="store_true", help="3,000 events, 1 round")
    args = ap.parse_args()
    if args.quick:
        args.events, args.rounds = 3_000, 1
    bench_db = await BenchDatabase.start(max_size=1)
    local = bench_db.local
    try:
        # One connection, so its backend's CPU time is Postgres's share of each measure.
        pool = bench_db.pool
        t = time.perf_counter()
        await generate(pool, args.events, args.seed)
        await pool.execute(f"VACUUM ANALYZE {TABLE}")
        print(f"generated {args.events:,} events in {time.perf_counter() - t:.1f} s")
        n, same = await prove(pool)
        print(f"digests identical to the reference encoder: {same:,} of {n:,} events")
        assert n == args.events and same == n, "digest differs from the reference"

        best = Best(await pool.fetchval("SELECT pg_backend_pid()") if local else None)
        for _ in range(args.rounds):
            report = await best.run("chains", chain.verify_chains(pool, SCHEMA))
            assert report.ok and report.events == n, report.first
            async with pool.acquire() as conn, conn.transaction(readonly=True):
                leaves, _ = await best.run("leaves", store_leaves(conn, SCHEMA))
            assert len(leaves) == n
            full = await best.run(
                "verify_service", verify_service(pool, SCHEMA, public_key="", checkpoints=[])
            )
            assert full.ok and full.events == n, full.summary()
        rows = await pool.fetch(
            f"SELECT {chain.COLUMNS} FROM {TABLE} ORDER BY stream_id, stream_version"
        )
        for _ in range(args.rounds):
            w, c = time.perf_counter(), time.process_time()
            for r in rows:
                chain.row_digest(r, r["stream_version"])
            best.keep("digest", time.perf_counter() - w,
                      time.process_time() - c)  # fmt: skip
            w, c = time.perf_counter(), time.process_time()
            for r in rows:
                _ref_digest(
                    str(r["event_id"]), r["stream_id"], r["stream_version"], r["event_type"],
                    r["occurred_at"], r["data"], r["metadata"],
                )  # fmt: skip
            best.keep("digest_reference", time.perf_counter() - w,
                      time.process_time() - c)  # fmt: skip
    finally:
        await bench_db.stop()
    print(f"{n:,} events, best of {args.rounds}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(machine())
    print("Postgres: embedded, same machine" if local else "Postgres: SAFEPATH_BENCH_DATABASE_URL")
    print("| measure | events/s (wall) | client CPU µs/event | Postgres CPU µs/event |")
    print("|---|---:|---:|---:|")
    for k, wall in best.wall.items():
        pg_us = f"{best.pg_cpu[k] / n * 1e6:.1f}" if best.backend and best.pg_cpu[k] else "-"
        print(f"| {k} | {n / wall:,.0f} | {best.cpu[k] / n * 1e6:.1f} | {pg_us} |")
    print("(target, issue 12: chains >= 200,000 events/s; digest and digest_reference: rows")
    print(" already fetched, no Postgres)")
    for k, wall in best.wall.items():
        result("verify", "events_per_s", n / wall, "events/s", measure=k, events=n)
        result("verify", "client_cpu_us", best.cpu[k] / n * 1e6, "µs/event", measure=k, events=n)
        if best.backend and k not in ("digest", "digest_reference"):
            pg = best.pg_cpu[k] / n * 1e6
            result("verify", "postgres_cpu_us", pg, "µs/event", measure=k, events=n)


if __name__ == "__main__":
    asyncio.run(main())
