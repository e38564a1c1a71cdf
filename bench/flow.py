"""End-to-end flow at steady rates: intake to the provider's notification, hop by hop.

Run with ``make bench`` / ``make bench-quick`` or ``.venv/bin/python bench/flow.py
[--rates 10,20,50,100] [--seconds 30] [--quick] [--duration MIN]``. A benchmark, not a
test: it asserts nothing about speed.

The real system as separate processes (``tests/e2e/harness.py`` ``System``: Postgres with
durable settings and NATS with JWT auth from the wheels, the three services as ``python
-m services.<svc>``). One flow, as a caseworker through the case service's HTTP API:
``POST /cases`` (intake with a profile), ``POST /cases/{id}/consents``, ``POST
/cases/{id}/referrals`` (one need: shelter, Khujand), then referral routes it and notify
tells the provider (or, once the shelters are full, the coordinator). Flows start on a
fixed schedule (open loop) at each rate; at most ``--in-flight`` (100) are open at once,
from intake sent to notification received, so the backlog of an overloaded system stays
bounded: a flow that would exceed it is skipped and counted. The bench follows each flow
on the bus with core subscriptions as the setup identity, and times these hops (wall
clock, all processes on this machine):

* ``commit_to_bus``: the ``ReferralRequested`` event's time (stamped by the case service
  just before its INSERT) to the event arriving on ``<ns>.case.<id>.ReferralRequested``;
* ``bus_to_routed``: to ``ReferralRouted``/``ReferralUnroutable`` (attempt 1) on the bus;
* ``routed_to_queued``: to notify's ``NotificationQueued`` on the bus;
* ``queued_to_received``: to the notification on ``<ns>.provider.<id>.notifications``
  (``<ns>.coordinator.<id>.notifications`` for an unroutable referral);
* ``commit_to_received`` and ``flow`` (intake sent to notification received) in total,
  and the three HTTP calls' latencies (``intake``, ``consent``, ``request``).

Per rate it also reads SQL statements per flow (``pg_stat_statements``, enabled in the
embedded Postgres by ``shared_preload_libraries`` before the system starts; all statements
of the ``safepath`` database including BEGIN/COMMIT, whose share is shown), transactions
and rows written per flow (``pg_stat_database`` deltas), CPU per flow of each process
(``/proc`` via psutil: each service, Postgres with all its backends, NATS, and this load
generator; ``system``: all but the load generator), and each process's RSS. The load
generator is a small HTTP/1.1 client over asyncio streams with keep-alive connections, not
httpx, to cost little CPU. ``--duration MIN`` adds a memory check: a run at
``--memory-rate`` for MIN minutes, RSS after 1 minute against RSS at the end.
``--profile DIR`` samples each service with py-spy (``pip install py-spy`` into the venv)
while the rates run, writes its collapsed stacks to ``DIR/<service>.txt`` and prints each
service's heaviest functions (own time and with their callees); the sampler costs CPU
of its own, so take the CPU figures from a run without it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import psutil
from benchkit import create_pg_stat_statements, machine, preload_pg_stat_statements, result

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.e2e.harness
from tests.e2e.harness import DATABASE, SERVICES, System

RATES = (10, 20, 50, 100)
QUICK_RATES = (10, 20)
HOPS = ("commit_to_bus", "bus_to_routed", "routed_to_queued", "queued_to_received")
TOTALS = ("commit_to_received", "flow", "intake", "consent", "request")
PROCESSES = (*SERVICES, "postgres", "nats", "loadgen")
KEEP_ALIVE = 3.0  # seconds an idle connection is reused (uvicorn keeps it 5 s)
TX_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE|START)", re.I)

PROFILE = {
    "given_name": "Bench",
    "sex": "female",
    "estimated_age_years": 24,
    "region": "sughd",
    "district": "khujand",
    "categories": ["trafficking"],
    "language": "tg",
}
INTAKE = {"region": "sughd", "categories": ["trafficking"], "profile": PROFILE}


def intake_of(n: int) -> dict[str, object]:
    """A new person per flow (a name nobody else has), as in life: one person sent every
    time would measure the person index's worst case (its locks taken in turn, every
    earlier intake found again; docs/performance.md), not the flow."""
    digest = hashlib.sha256(n.to_bytes(8, "big")).digest()
    name = "".join("abcdefghijklmnopqrstuvwxyz"[b % 26] for b in digest[:8])
    return {**INTAKE, "profile": {**PROFILE, "given_name": name.capitalize()}}


CONSENT = {
    "purpose": "referral",
    "service_types": ["shelter"],
    "data_categories": ["needs", "demographics"],
}
REQUEST = {"needs": ["shelter"], "urgency": "routine"}


# -- a cheap HTTP/1.1 client ------------------------------------------------------------


class Http:
    """HTTP/1.1 over asyncio streams with a pool of keep-alive connections (JSON only)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        fixed = {"host": f"{host}:{port}", "content-type": "application/json", **headers}
        self.fixed = "".join(f"{k}: {v}\r\n" for k, v in fixed.items())
        # Idle connections and when each was last used: one idle for longer than
        # KEEP_ALIVE is closed, not reused (uvicorn closes them after 5 s).
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, float]] = []

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        data = json.dumps(body).encode()
        # A fresh Idempotency-Key per write makes the one retry below safe.
        head = (
            f"POST {path} HTTP/1.1\r\n{self.fixed}idempotency-key: {uuid.uuid4()}\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        ).encode()
        conn = self._take()
        reused = conn is not None
        if conn is None:
            conn = await asyncio.open_connection(self.host, self.port)
        try:
            status, keep, payload = await self._exchange(conn, head + data)
        except (ConnectionError, asyncio.IncompleteReadError):
            conn[1].close()
            if not reused:
                raise
            # The server closed the idle connection as we used it: once more, on a new one.
            conn = await asyncio.open_connection(self.host, self.port)
            status, keep, payload = await self._exchange(conn, head + data)
        if keep:
            self.idle.append((*conn, time.monotonic()))
        else:
            conn[1].close()
        return status, json.loads(payload) if payload else {}

    def _take(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        while self.idle:
            reader, writer, used = self.idle.pop()
            if time.monotonic() - used < KEEP_ALIVE and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    @staticmethod
    async def _exchange(
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes
    ) -> tuple[int, bool, bytes]:
        reader, writer = conn
        writer.write(request)
        await writer.drain()
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:] if x)
        }
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
                body += (await reader.readexactly(size + 2))[:-2]
            await reader.readuntil(b"\r\n")
        else:
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        return status, headers.get("connection", "").lower() != "close", body

    def close(self) -> None:
        for _, writer, _ in self.idle:
            writer.close()
        self.idle.clear()


# -- following flows on the bus ----------------------------------------------------------


@dataclass
class Flow:
    sent: float = 0.0  # intake sent
    http: dict[str, float] = field(default_factory=dict)  # intake/consent/request latency
    referral_id: str = ""  # the request's id (a routed referral has its own)


@dataclass
class Bus:
    """When each flow's events arrived: keyed by case id (referral id for notifications)."""

    committed: dict[str, float] = field(default_factory=dict)  # the event's own time
    on_bus: dict[str, float] = field(default_factory=dict)
    routed: dict[str, float] = field(default_factory=dict)
    unroutable: set[str] = field(default_factory=set)
    queued: dict[str, float] = field(default_factory=dict)
    received: dict[str, float] = field(default_factory=dict)  # referral id -> time
    case_of: dict[str, str] = field(default_factory=dict)  # referral id -> case id
    arrived: int = 0  # notifications received, one per flow

    async def follow(self, nc: Any, ns: str) -> None:
        async def requested(msg: Any) -> None:
            now = time.time()
            case_id = msg.subject.split(".")[2]
            self.on_bus.setdefault(case_id, now)
            at = datetime.fromisoformat(json.loads(msg.data)["time"]).timestamp()
            self.committed.setdefault(case_id, at)

        async def routing(msg: Any) -> None:
            now = time.time()
            data = json.loads(msg.data)["data"]
            if data.get("attempt") == 1:
                self.routed.setdefault(data["case_id"], now)
                self.case_of[data["referral_id"]] = data["case_id"]
                if msg.subject.endswith("Unroutable"):
                    self.unroutable.add(data["case_id"])

        async def queued(msg: Any) -> None:
            now = time.time()
            self.queued.setdefault(json.loads(msg.data)["data"]["case_id"], now)

        async def received(msg: Any) -> None:
            now = time.time()
            referral_id = json.loads(msg.data)["subject"]
            if referral_id not in self.received:
                self.received[referral_id] = now
                self.arrived += 1

        await nc.subscribe(f"{ns}.case.*.ReferralRequested", cb=requested)
        await nc.subscribe(f"{ns}.referral.*.ReferralRouted", cb=routing)
        await nc.subscribe(f"{ns}.referral.*.ReferralUnroutable", cb=routing)
        await nc.subscribe(f"{ns}.notify.*.NotificationQueued", cb=queued)
        await nc.subscribe(f"{ns}.*.*.notifications", cb=received)

    def received_by_case(self) -> dict[str, float]:
        """When each case's notification arrived (its subject is the routed referral's id,
        which the routing event maps to the case)."""
        return {self.case_of[r]: t for r, t in self.received.items() if r in self.case_of}


def hops(bus: Bus, flows: dict[str, Flow]) -> dict[str, list[float]]:
    """Milliseconds per hop, for the flows that reached each end of the hop."""
    out: dict[str, list[float]] = {h: [] for h in (*HOPS, *TOTALS)}
    received = bus.received_by_case()
    for case_id, f in flows.items():
        for name, seconds in f.http.items():
            out[name].append(seconds * 1000)
        got = received.get(case_id)
        stamps = [bus.committed.get(case_id), bus.on_bus.get(case_id)]
        stamps += [bus.routed.get(case_id), bus.queued.get(case_id), got]
        for name, a, b in zip(HOPS, stamps, stamps[1:], strict=False):
            if a is not None and b is not None:
                out[name].append((b - a) * 1000)
        if got is not None:
            if stamps[0] is not None:
                out["commit_to_received"].append((got - stamps[0]) * 1000)
            out["flow"].append((got - f.sent) * 1000)
    return out


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


# -- cost: CPU, memory, statements --------------------------------------------------------


def pids(system: System) -> dict[str, int]:
    out = {svc: system.pid(svc) or 0 for svc in SERVICES}
    out["postgres"] = system.pg.proc.pid if system.pg.proc else 0
    out["nats"] = system.nats.proc.pid if system.nats.proc else 0
    out["loadgen"] = os.getpid()
    return out


def tree(pid: int) -> list[psutil.Process]:
    try:
        p = psutil.Process(pid)
        return [p, *p.children(recursive=True)] if pid != os.getpid() else [p]
    except psutil.NoSuchProcess:
        return []


def cpu_seconds(system: System) -> dict[str, float]:
    """CPU (user + system) used so far by each process and its children (Postgres: the
    postmaster and every backend alive now)."""
    out = {}
    for name, pid in pids(system).items():
        total = 0.0
        for p in tree(pid):
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.NoSuchProcess:
                pass
        out[name] = total
    return out


def rss_mb(system: System) -> dict[str, float]:
    out = {}
    for name, pid in pids(system).items():
        if name == "postgres":
            continue  # shared buffers counted once per backend: not a meaningful sum
        procs = tree(pid)
        out[name] = sum(p.memory_info().rss for p in procs) / 2**20 if procs else float("nan")
    return out


STATEMENTS = f"""
SELECT s.queryid, s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 110) AS query
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = '{DATABASE}'
"""
DATABASE_STATS = f"""
SELECT xact_commit + xact_rollback AS xacts, tup_inserted, tup_updated, tup_deleted
FROM pg_stat_database WHERE datname = '{DATABASE}'
"""


async def db_snapshot(admin: asyncpg.Connection, statements: bool) -> dict[str, Any]:
    row = await admin.fetchrow(DATABASE_STATS)
    out: dict[str, Any] = dict(row) if row else {}
    if statements:
        rows = await admin.fetch(STATEMENTS)
        out["by_query"] = {r["queryid"]: (r["calls"], r["query"]) for r in rows}
    return out


def enable_pg_stat_statements(system: System) -> bool:
    """Preload pg_stat_statements in the system's Postgres (a restart before the services
    start); False when the embedded server lacks it."""

    try:
        asyncio.run(preload_pg_stat_statements(system.pg.start(), max_statements=10000))
        return True
    except (OSError, asyncpg.PostgresError) as e:
        print(f"pg_stat_statements not enabled ({e}); counting transactions only")
        return False
    finally:
        system.pg.stop()


# -- the run -----------------------------------------------------------------------------


@dataclass
class Level:
    rate: float
    seconds: float
    started: int = 0
    skipped: int = 0
    failed: int = 0
    flows: dict[str, Flow] = field(default_factory=dict)
    window: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    rss: dict[str, float] = field(default_factory=dict)
    db: dict[str, float] = field(default_factory=dict)
    top: list[tuple[float, str]] = field(default_factory=list)


class Bench:
    def __init__(self, system: System, statements: bool, in_flight: int) -> None:
        self.system, self.statements, self.in_flight = system, statements, in_flight
        self.bus = Bus()
        headers = system.headers("caseworker", "cw-bench", region="sughd", office="sughd-office")
        self.http = Http(system.host, system.ports["case"], headers)
        self.started = self.failed = 0  # over all rates
        self.people = itertools.count()

    async def one_flow(self, level: Level) -> None:
        flow = Flow(sent=time.time())
        try:
            t = time.perf_counter()
            status, body = await self.http.post("/cases", intake_of(next(self.people)))
            if status != 201:
                raise RuntimeError(f"intake: {status} {body}")
            case_id = body["id"]
            flow.http["intake"] = time.perf_counter() - t
            level.flows[case_id] = flow
            t = time.perf_counter()
            status, body = await self.http.post(f"/cases/{case_id}/consents", CONSENT)
            if status != 200:
                raise RuntimeError(f"consent: {status} {body}")
            flow.http["consent"] = time.perf_counter() - t
            t = time.perf_counter()
            status, body = await self.http.post(f"/cases/{case_id}/referrals", REQUEST)
            if status != 202:
                raise RuntimeError(f"request: {status} {body}")
            flow.http["request"] = time.perf_counter() - t
            flow.referral_id = body["referral_id"]
        except (OSError, RuntimeError, asyncio.IncompleteReadError) as e:
            level.failed += 1
            self.failed += 1
            if level.failed <= 3:
                print(f"  flow failed: {str(e)[:200]}", flush=True)

    def done(self, level: Level) -> bool:
        got = self.bus.received_by_case()
        return all(c in got for c, f in level.flows.items() if f.referral_id)

    async def run(self, rate: float, seconds: float, drain: float, on_minute: Any = None) -> Level:
        level = Level(rate, seconds)
        admin = await asyncpg.connect(self.system.pg.url)  # the postgres database: not counted
        try:
            db0 = await db_snapshot(admin, self.statements)
            cpu0, t0 = cpu_seconds(self.system), time.monotonic()
            tasks: list[asyncio.Task[None]] = []
            n = int(rate * seconds)
            for i in range(n):
                await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
                if on_minute is not None:
                    on_minute(time.monotonic() - t0)
                # Open = intake sent, notification not yet received (nor the flow failed).
                if self.started - self.failed - self.bus.arrived >= self.in_flight:
                    level.skipped += 1
                    continue
                level.started += 1
                self.started += 1
                tasks.append(asyncio.create_task(self.one_flow(level)))
            await asyncio.sleep(max(0.0, t0 + seconds - time.monotonic()))
            await asyncio.gather(*tasks)
            for _ in range(int(drain / 0.05)):  # until every flow is received, or drain s
                if self.done(level):
                    break
                await asyncio.sleep(0.05)
            cpu1, level.window = cpu_seconds(self.system), time.monotonic() - t0
            level.rss = rss_mb(self.system)
            await asyncio.sleep(1.2)  # backends report pg_stat_database at most once a second
            db1 = await db_snapshot(admin, self.statements)
        finally:
            await admin.close()
        level.cpu = {k: cpu1[k] - cpu0.get(k, 0.0) for k in cpu1}
        level.db = {k: float(db1[k] - db0[k]) for k in db1 if k != "by_query"}
        if self.statements:
            before = db0["by_query"]
            calls = {
                q: (c - before.get(q, (0, ""))[0], text) for q, (c, text) in db1["by_query"].items()
            }
            level.db["statements"] = float(sum(c for c, _ in calls.values()))
            level.db["tx_control"] = float(
                sum(c for c, text in calls.values() if TX_CONTROL.match(text))
            )
            level.top = sorted(((c, text) for c, text in calls.values() if c > 0), reverse=True)
        return level


def report(levels: list[Level], bus: Bus, statements: bool, top: int) -> None:
    print("\nLatency per hop, ms (p50 / p99); flows = received of started")
    head = ["rate/s", "flows/s", "flows", "skip", "fail", "unroutable"]
    head += [h.replace("_to_", "→") for h in (*HOPS, *TOTALS)]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for lv in levels:
        lat = hops(bus, lv.flows)
        received = len(lat["flow"])
        unroutable = sum(1 for c in lv.flows if c in bus.unroutable)
        cells = [f"{lv.rate:g}", f"{received / lv.window:.1f}", f"{received}/{lv.started}"]
        cells += [str(lv.skipped), str(lv.failed), str(unroutable)]
        cells += [f"{pct(lat[h], 50):.0f} / {pct(lat[h], 99):.0f}" for h in (*HOPS, *TOTALS)]
        print("| " + " | ".join(cells) + " |")
        r = f"{lv.rate:g}"
        result("flow", "flows_per_s", received / lv.window, "flows/s", rate=r)
        result("flow", "received", received, "flows", rate=r)
        result("flow", "started", lv.started, "flows", rate=r)
        result("flow", "skipped", lv.skipped, "flows", rate=r)
        result("flow", "failed", lv.failed, "flows", rate=r)
        for h in (*HOPS, *TOTALS):
            for p in (50, 99):
                result("flow", f"p{p}_ms.{h}", pct(lat[h], p), "ms", rate=r)

    print("\nCost per flow received: SQL, CPU ms per process, RSS MB at the end of each rate")
    db_cols = ["statements", "of which tx control"] if statements else []
    db_cols += ["transactions", "rows inserted", "rows updated"]
    cpu_cols = [f"CPU {p}" for p in PROCESSES] + ["CPU system"]
    rss_cols = [f"RSS {p}" for p in PROCESSES if p != "postgres"]
    head = ["rate/s", *db_cols, *cpu_cols, "CPU busy %", *rss_cols]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---:" for _ in head) + "|")
    for lv in levels:
        n = max(1, len(hops(bus, lv.flows)["flow"]))
        r = f"{lv.rate:g}"
        db = {
            "statements": lv.db.get("statements", float("nan")),
            "tx_control": lv.db.get("tx_control", float("nan")),
            "transactions": lv.db["xacts"],
            "rows_inserted": lv.db["tup_inserted"],
            "rows_updated": lv.db["tup_updated"],
        }
        if not statements:
            del db["statements"], db["tx_control"]
        cells = [r, *(f"{v / n:.1f}" for v in db.values())]
        system_ms = sum(lv.cpu[p] for p in PROCESSES if p != "loadgen") / n * 1000
        cells += [f"{lv.cpu[p] / n * 1000:.1f}" for p in PROCESSES] + [f"{system_ms:.0f}"]
        busy = sum(lv.cpu.values()) / lv.window / (os.cpu_count() or 1) * 100
        cells += [f"{busy:.0f}", *(f"{lv.rss[p]:.0f}" for p in PROCESSES if p != "postgres")]
        print("| " + " | ".join(cells) + " |")
        for k, v in db.items():
            result("flow", f"{k}_per_flow", v / n, "per flow", rate=r)
        for p in PROCESSES:
            result("flow", f"cpu_ms_per_flow.{p}", lv.cpu[p] / n * 1000, "ms", rate=r)
        result("flow", "cpu_ms_per_flow.system", system_ms, "ms", rate=r)
        result("flow", "cpu_busy", busy, "% of all cores", rate=r)
        for p in PROCESSES:
            if p != "postgres":
                result("flow", f"rss_mb.{p}", lv.rss[p], "MB", rate=r)

    if statements and top and levels:
        lv = levels[-1]
        n = max(1, len(hops(bus, lv.flows)["flow"]))
        print(f"\nMost frequent statements per flow at {lv.rate:g}/s (pg_stat_statements):")
        for calls, text in lv.top[:top]:
            print(f"  {calls / n:6.2f}  {text}")


def report_idle(idle: Level) -> None:
    """Background work (relays, sealers, leases, pollers) with no flow at all."""
    per_s = {p: idle.cpu[p] / idle.window * 1000 for p in PROCESSES}
    cpu = ", ".join(f"{p} {v:.1f}" for p, v in per_s.items())
    line = f"\nIdle, {idle.window:.0f} s without flows: CPU ms/s {cpu}"
    if "statements" in idle.db:
        line += f"; {idle.db['statements'] / idle.window:.1f} statements/s"
    print(line)
    if "statements" in idle.db:
        result("flow", "idle_statements_per_s", idle.db["statements"] / idle.window, "1/s")
    for p, v in per_s.items():
        result("flow", f"idle_cpu_ms_per_s.{p}", v, "ms/s")


# -- profile: py-spy per service ------------------------------------------------------------


def start_profiles(system: System, out: Path) -> list[tuple[str, subprocess.Popen[bytes]]]:
    """py-spy ``record`` attached to each service, collapsed stacks into ``out``."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None:
        print("--profile: py-spy not found (pip install py-spy into the venv); no profile")
        return []
    out.mkdir(parents=True, exist_ok=True)
    procs = []
    for svc in SERVICES:
        pid = system.pid(svc)
        if pid:
            cmd = [spy, "record", "-p", str(pid), "-r", "50", "--gil", "--format", "raw", "-o"]
            cmd += [str(out / f"{svc}.txt"), "--nonblocking"]
            procs.append((svc, subprocess.Popen(cmd, stdout=subprocess.DEVNULL)))
    return procs


def stop_profiles(procs: list[tuple[str, subprocess.Popen[bytes]]], out: Path, top: int) -> None:
    for _, p in procs:
        p.send_signal(signal.SIGINT)
    for _, p in procs:
        p.wait(timeout=60)
    for svc, _ in procs:
        summarise_profile(svc, out / f"{svc}.txt", top)


def _frame(f: str) -> str:
    """``func (path/to/module.py:123)`` -> ``func (module.py)``: one row per function."""
    name, _, where = f.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "/work/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where.removeprefix('main/')})"


def summarise_profile(svc: str, path: Path, top: int) -> None:
    """Each function's share of the samples: own (leaf) and inclusive (on the stack)."""
    own: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    idle = 0
    if not path.exists():
        print(f"\nprofile {svc}: no output")
        return
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        frames = [_frame(f) for f in stack.split(";")[1:]]  # the first is the thread
        total += count
        if not frames or frames[-1].startswith(("select (", "poll (", "epoll")):
            idle += count
        if frames:
            own[frames[-1]] += count
            for f in set(frames):
                incl[f] += count
    busy = total - idle
    print(f"\nprofile {svc}: {total} samples, {busy} not waiting in the event loop's select")
    for title, counts in (("own time", own), ("with callees", incl)):
        print(f"| {svc}: {title} | % of busy |")
        print("| --- | ---: |")
        for f, c in counts.most_common(top + 1):
            if f.startswith(("select (", "run_forever", "_run_once", "<module>", "run (")):
                continue
            print(f"| {f} | {100 * c / max(busy, 1):.1f} |")


async def bench(system: System, args: argparse.Namespace, statements: bool) -> None:
    b = Bench(system, statements, args.in_flight)
    nc = await system.connect_nats("setup")
    try:
        await b.bus.follow(nc, system.namespace)
        await b.run(5, 2 if args.quick else 4, drain=20)  # warm-up: connections, plans, caches
        await asyncio.sleep(1)
        idle = await b.run(0, 3 if args.quick else 5, drain=0)  # what no flow costs
        profiles = start_profiles(system, Path(args.profile)) if args.profile else []
        levels = []
        for rate in args.rates:
            lv = await b.run(rate, args.seconds, drain=args.drain)
            got = len(hops(b.bus, lv.flows)["flow"])
            print(
                f"  {rate:g}/s: {got} of {lv.started} flows received in {lv.window:.1f} s"
                f" (skipped {lv.skipped}, failed {lv.failed})",
                flush=True,
            )
            levels.append(lv)
            await asyncio.sleep(1)
        if profiles:
            stop_profiles(profiles, Path(args.profile), max(args.top, 25))
        report(levels, b.bus, statements, args.top)
        report_idle(idle)
        print("load average at the end: " + ", ".join(f"{x:.1f}" for x in os.getloadavg()))
        if args.duration > 0:
            await memory_check(system, b, args)
    finally:
        b.http.close()
        await nc.close()


async def memory_check(system: System, b: Bench, args: argparse.Namespace) -> None:
    early: dict[str, float] = {}

    def sample(elapsed: float) -> None:
        if not early and elapsed >= 60:
            early.update(rss_mb(system))

    lv = await b.run(args.memory_rate, args.duration * 60, drain=args.drain, on_minute=sample)
    got = len(hops(b.bus, lv.flows)["flow"])
    print(
        f"\nMemory at {args.memory_rate:g} flows/s for {args.duration:g} min (RSS MB);"
        f" {got} of {lv.started} flows received, {lv.skipped} skipped, {lv.failed} failed"
    )
    print("| process | after 1 min | at the end | growth |")
    print("| --- | ---: | ---: | ---: |")
    for p, end in lv.rss.items():
        first = early.get(p, float("nan"))
        print(f"| {p} | {first:.0f} | {end:.0f} | {end - first:+.0f} |")
        result("flow", f"rss_mb_1min.{p}", first, "MB", rate=f"{args.memory_rate:g}")
        result("flow", f"rss_mb_end.{p}", end, "MB", rate=f"{args.memory_rate:g}")
    result("flow", "memory_check_minutes", args.duration, "min", rate=f"{args.memory_rate:g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rates", help="flows/s, comma-separated (default 10,20,50,100)")
    parser.add_argument("--seconds", type=float, help="per rate (default 30; --quick 10)")
    parser.add_argument("--quick", action="store_true", help="rates 10,20 for 10 s each")
    parser.add_argument("--drain", type=float, default=30.0, help="max wait after each rate")
    parser.add_argument("--in-flight", type=int, default=100, help="open flows at most")
    parser.add_argument("--top", type=int, default=12, help="statements listed (0: none)")
    parser.add_argument("--duration", type=float, default=0, help="memory check, minutes")
    parser.add_argument("--memory-rate", type=float, default=20.0, help="flows/s for it")
    parser.add_argument("--volatile", action="store_true", help="Postgres without fsync")
    parser.add_argument("--profile", metavar="DIR", help="py-spy each service into DIR")
    args = parser.parse_args()
    default_rates = QUICK_RATES if args.quick else RATES
    args.rates = [float(r) for r in args.rates.split(",")] if args.rates else default_rates
    args.seconds = args.seconds or (10.0 if args.quick else 30.0)
    if args.quick:
        args.drain = min(args.drain, 15.0)
    print(machine())
    system = System(durable=not args.volatile)
    try:
        statements = enable_pg_stat_statements(system)
        system.start_all()
        if statements:
            asyncio.run(create_pg_stat_statements(system.pg.url))
        durability = "no fsync (--volatile)" if args.volatile else "durable (fsync on)"
        print(
            f"Postgres {durability}; rates {', '.join(f'{r:g}' for r in args.rates)} flows/s,"
            f" {args.seconds:g} s each; open flows at most {args.in_flight}"
        )
        asyncio.run(bench(system, args, statements))
    finally:
        system.stop()


if __name__ == "__main__":
    main()
