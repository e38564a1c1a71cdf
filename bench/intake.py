"""Case intake throughput: POST /cases (with a profile) at rising concurrency.

Run with ``.venv/bin/python bench/intake.py [--seconds 10] [--quick] [--profile FILE]``
(quick: 1 and 8 clients, 3 s each; profile: py-spy on the case service, as in
``bench/flow.py``). A benchmark, not a test: it asserts nothing about speed. It starts
Postgres (durable defaults: fsync on, synchronous commit) and NATS from the wheels in a
temporary directory (NATS with JWT authentication and the streams declared by the setup
identity, as ``safepath up`` does), runs the case service with its own credentials and
event key, with uvicorn in a subprocess (``python -m services.case``, one worker, INFO
logging to a file), then, for 1, 8, 32 and 64 concurrent clients, POSTs intakes for a fixed
time and prints requests/s and p50/p99 latency. Every intake creates a case key, seals the
identifying fields, appends CaseOpened + SurvivorProfileRecorded, projects the summary row,
and is published to JetStream by the relay, as in production. The load generator runs on
the same machine as the service, Postgres and NATS.

Beside each level it prints what one intake costs: SQL statements per intake
(``pg_stat_statements`` of the service's database, so the relay's reads and checkpoints
are included; BEGIN and COMMIT are statements, each a round trip) and CPU per intake of
the case service and of Postgres (all backends), from ``/proc``. The load generator
(httpx) is not counted in either.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx
import psutil
from benchkit import create_pg_stat_statements, preload_pg_stat_statements, result

from shared.auth import AuthConfig, mint_token
from shared.devservers import EmbeddedNats, EmbeddedPostgres, free_port, port_open
from shared.installation import Installation
from shared.settings import Settings

CONCURRENCY = (1, 8, 32, 64)
ROOT = Path(__file__).resolve().parent.parent


# Every intake is a different person (a name nobody else has): intakes of one person
# take the person index's locks in turn and find every earlier intake of that person
# (docs/case-domain.md, possible duplicates), which is not what a day of intakes does.
# ``--same-person`` measures that worst case instead.
def _name(n: int) -> str:
    digest = hashlib.sha256(n.to_bytes(8, "big")).digest()
    return "".join("abcdefghijklmnopqrstuvwxyz"[b % 26] for b in digest[:7]).capitalize()


def intake_of(n: int, same_person: bool) -> dict[str, object]:
    if same_person:
        return INTAKE
    person = {"given_name": _name(2 * n), "family_name": _name(2 * n + 1)}
    return {**INTAKE, "profile": {**INTAKE["profile"], **person}}  # type: ignore[dict-item]


INTAKE = {
    "region": "sughd",
    "categories": ["trafficking"],
    "profile": {
        "given_name": "Bench",
        "family_name": "Survivor",
        "date_of_birth": "1998-05-17",
        "contact_arrangement": "through the Khujand shelter",
        "narrative": "Synthetic intake for the benchmark. " * 10,
        "sex": "female",
        "disability": False,
        "nationality": "TJ",
        "citizenship_status": "citizen",
        "language": "tg",
        "region": "sughd",
        "district": "khujand",
        "categories": ["trafficking"],
    },
}


def start_service(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.case"], cwd=ROOT, env=env, stdout=out, stderr=out
    )
    deadline = time.monotonic() + 60
    while not port_open(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the case service did not start; see {log}")
        time.sleep(0.1)
    return proc


def start_profile(pid: int | None, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy ``record`` attached to the case service, as ``bench/flow.py --profile``
    does: ``--gil`` (only samples of a thread holding the GIL: Python work, not waits),
    50 Hz, raw (collapsed) stacks into ``out``. The sampler costs CPU of its own, so
    compare CPU figures only between runs that both profile, or both do not."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if spy is None or pid is None:
        print("--profile: py-spy not found (pip install py-spy into the venv); no profile")
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [spy, "record", "-p", str(pid), "-r", "50", "--gil", "--format", "raw", "-o", str(out)]
    return subprocess.Popen([*cmd, "--nonblocking"], stdout=subprocess.DEVNULL)


_SEQUENCE = itertools.count()  # a new person per intake, across levels and warm-up


async def run_level(
    url: str, token: str, clients: int, seconds: float, same_person: bool = False
) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=30) as c:

        async def client() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                try:
                    body = intake_of(next(_SEQUENCE), same_person)
                    r = await c.post("/cases", json=body)
                except httpx.TransportError:
                    errors += 1  # counted, not fatal: the table shows it
                    continue
                if r.status_code == 201:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return len(latencies), latencies, errors


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


STATEMENTS = """
SELECT s.queryid, s.calls, left(regexp_replace(s.query, '\\s+', ' ', 'g'), 100) AS query
FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat_statements%'
"""


def cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) of ``pid`` and its children alive now."""
    if pid is None:
        return 0.0
    try:
        p = psutil.Process(pid)
        procs = [p, *p.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for q in procs:
        try:
            t = q.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


async def statements(pg_url: str | None) -> dict[tuple[int, str], int]:
    """Calls so far per statement (its id and the start of its text)."""
    if pg_url is None:
        return {}
    conn = await asyncpg.connect(pg_url)
    try:
        return {(r["queryid"], r["query"]): r["calls"] for r in await conn.fetch(STATEMENTS)}
    finally:
        await conn.close()


async def bench(
    url: str,
    token: str,
    seconds: float,
    levels: tuple[int, ...],
    same_person: bool,
    pids: dict[str, int | None] | None = None,
    pg_url: str | None = None,
    profile: str | None = None,
) -> None:
    pids = pids or {}
    await run_level(url, token, 8, min(3.0, seconds), same_person)  # warm-up: plans, JIT
    spy = start_profile(pids.get("case"), Path(profile)) if profile else None
    print(
        f"{'clients':>7} | {'intakes/s':>9} | {'p50 ms':>7} | {'p99 ms':>7} | errors"
        " | SQL/intake | CPU ms/intake: case | postgres"
    )
    print(f"{'-' * 7} | {'-' * 9} | {'-' * 7} | {'-' * 7} | ------ | ---: | ---: | ---:")
    tops = []
    for clients in levels:
        before = await statements(pg_url)
        cpu0 = {k: cpu_of(v) for k, v in pids.items()}
        t0 = time.perf_counter()
        done, lat, errors = await run_level(url, token, clients, seconds, same_person)
        rate = done / (time.perf_counter() - t0)
        await asyncio.sleep(0.5)  # the relay publishes what the last intakes appended
        cpu = {k: (cpu_of(v) - cpu0[k]) * 1000 / max(done, 1) for k, v in pids.items()}
        after = await statements(pg_url)
        calls = {q: c - before.get(q, 0) for q, c in after.items()}
        per = sum(calls.values()) / max(done, 1)
        print(
            f"{clients:>7} | {rate:>9.0f} | {pct(lat, 50):>7.1f} | {pct(lat, 99):>7.1f} | {errors}"
            f" | {per:.1f} | {cpu.get('case', float('nan')):.2f}"
            f" | {cpu.get('postgres', float('nan')):.2f}",
            flush=True,
        )
        result("intake", "intakes_per_s", rate, "intakes/s", clients=clients)
        result("intake", "p50_ms", pct(lat, 50), "ms", clients=clients)
        result("intake", "p99_ms", pct(lat, 99), "ms", clients=clients)
        result("intake", "errors", errors, "requests", clients=clients)
        if pg_url is not None:
            result("intake", "statements_per_intake", per, "per intake", clients=clients)
        for k, v in cpu.items():
            result("intake", f"cpu_ms_per_intake.{k}", v, "ms", clients=clients)
        tops.append((clients, done, calls))
    if spy is not None and profile is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)
        from flow import summarise_profile  # bench/flow.py: the same summary per function

        summarise_profile("case", Path(profile), 25)
    for clients, done, calls in tops[-1:]:
        print(f"\nStatements per intake at {clients} clients (pg_stat_statements):")
        for q, c in sorted(calls.items(), key=lambda x: -x[1])[:20]:
            if c > 0:
                print(f"  {c / max(done, 1):6.2f}  {q[1]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, help="duration of each level (default 10)")
    parser.add_argument(
        "--quick", action="store_true", help="1 and 8 clients, 3 s each (unless --seconds)"
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="sample the case service with py-spy (--gil, 50 Hz) while the levels run, "
        "raw stacks into FILE, and print its heaviest functions",
    )
    parser.add_argument(
        "--same-person",
        action="store_true",
        help="every intake the same person (the person index's worst case) instead of a new one",
    )
    args = parser.parse_args()
    levels = (1, 8) if args.quick else CONCURRENCY
    if args.seconds is None:
        args.seconds = 3.0 if args.quick else 10.0
    tmp = Path(tempfile.mkdtemp(prefix="safepath-bench-intake-"))
    pg = EmbeddedPostgres(tmp / "pg")
    install = Installation(tmp / "data", "bench")
    ns = EmbeddedNats(tmp / "nats", config=install.server_config())
    proc: subprocess.Popen[bytes] | None = None
    try:
        pg_url = pg.start()
        # pg_stat_statements needs a preload: set it, then start Postgres again.
        asyncio.run(preload_pg_stat_statements(pg_url))
        pg.stop()
        pg_url, nats_url = pg.start(), ns.start()
        asyncio.run(create_pg_stat_statements(pg_url))
        install.issue_all()
        asyncio.run(install.declare_streams(nats_url))
        port = free_port()
        env = {
            **os.environ,
            "SAFEPATH_DATABASE_URL": pg_url,
            "SAFEPATH_NATS_URL": nats_url,
            "SAFEPATH_CASE_PORT": str(port),
            "SAFEPATH_ENVIRONMENT": "development",
            "SAFEPATH_LOG_FORMAT": "json",
            # One caseworker from one address at full speed: measure throughput, not limits.
            "SAFEPATH_RATE_LIMIT_PER_MINUTE": "0",
            "SAFEPATH_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "0",
            "SAFEPATH_NAMESPACE": "bench",
            **install.service_env("case"),
        }
        proc = start_service(env, port, tmp / "case.log")
        token = mint_token(
            AuthConfig.from_settings(Settings()),
            "bench-cw",
            "caseworker",
            office="khujand-nrm",
            region="sughd",
        )
        print(
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cpus, "
            f"Python {platform.python_version()}; {args.seconds:.0f} s per level"
        )
        who = "the same person every time" if args.same_person else "a new person each"
        print(f"intakes: {who}")
        url = f"http://127.0.0.1:{port}"
        pids = {"case": proc.pid, "postgres": pg.proc.pid if pg.proc else None}
        asyncio.run(
            bench(url, token, args.seconds, levels, args.same_person, pids, pg_url, args.profile)
        )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()  # see the report: a relay cancellation can be lost at shutdown
                proc.wait()
        ns.stop()
        pg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
