"""What every benchmark prints beside its table: ``RESULT`` lines and the machine.

A ``RESULT`` line is one figure as JSON, so that two runs can be compared mechanically
(``grep '^RESULT' run1.txt``)::

    RESULT {"bench": "flow", "metric": "p50_ms.commit_to_bus@rate=10", "value": 4.1, "unit": "ms"}

``metric`` is the figure's name, then ``@`` and the parameters of the cell it belongs to
(contender, writers, rate, ...), always in the same order, so (bench, metric) is a key.
Imported as ``from benchkit import ...``: the scripts run as ``python bench/<name>.py``,
which puts this directory first on ``sys.path``.
"""

from __future__ import annotations

import json
import math
import os
import platform
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any


def result(bench: str, metric: str, value: float | int, unit: str, **params: object) -> None:
    """Print one figure as a ``RESULT`` line (NaN and infinities as ``null``)."""
    if params:
        metric += "@" + ",".join(f"{k}={v}" for k, v in params.items())
    out: float | int | None = value
    if isinstance(value, float):
        out = round(value, 4) if math.isfinite(value) else None
    doc = {"bench": bench, "metric": metric, "value": out, "unit": unit}
    print("RESULT " + json.dumps(doc, ensure_ascii=False), flush=True)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def ram_gb() -> float:
    try:
        with open("/proc/meminfo") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("MemTotal:"))
        return kb / 1024 / 1024
    except (OSError, StopIteration, ValueError):
        return float("nan")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by ``pid``, by its children alive now, and
    by the children it has reaped (for a postmaster: the backends already gone)."""
    import psutil  # the scripts that need it import benchkit first

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
        t = root.cpu_times()
        total = t.children_user + t.children_system
    except psutil.NoSuchProcess:
        return 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def machine() -> str:
    """CPU model, cores, RAM, kernel, Python and the load average when the run began."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"machine: {cpu_model()}, {os.cpu_count()} cores, {ram_gb():.0f} GB RAM;"
        f" {platform.system()} {platform.release()}; Python {platform.python_version()};"
        f" load average {load}"
    )


class BenchDatabase:
    """A new database, migrated, for one benchmark run: on the server named by
    ``$SAFEPATH_BENCH_DATABASE_URL`` or else on an embedded Postgres of its own in a
    temporary directory (``local``), stopped by ``stop``."""

    def __init__(
        self, pool: Any, dsn: str, local: bool, server: Any, tmp: Path | None = None
    ) -> None:
        self.pool, self.dsn, self.local, self._server = pool, dsn, local, server
        self._tmp = tmp  # the local server's directory, removed by ``stop``

    @classmethod
    async def start(cls, *, max_size: int = 4) -> BenchDatabase:
        import asyncpg  # the scripts import benchkit before they need Postgres

        from services.migrations import migrate_all
        from shared.devservers import EmbeddedPostgres

        given = os.environ.get("SAFEPATH_BENCH_DATABASE_URL")
        server, tmp = None, None
        if not given:
            tmp = Path(tempfile.mkdtemp(prefix="safepath-bench-"))
            server = EmbeddedPostgres(tmp / "pg")
        try:
            url = given or server.start()
            admin = await asyncpg.connect(url)
            try:
                db = f"bench_{uuid.uuid4().hex[:8]}"
                await admin.execute(f'CREATE DATABASE "{db}"')
            finally:
                await admin.close()
            dsn = url.rsplit("/", 1)[0] + "/" + db
            await migrate_all(dsn)
            pool = await asyncpg.create_pool(dsn, min_size=1, max_size=max_size)
        except BaseException:
            if server is not None:
                server.stop()
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)
            raise
        return cls(pool, dsn, server is not None, server, tmp)

    def server_cpu_seconds(self) -> float | None:
        """The CPU the embedded server has used so far (every process of it), or None on a
        server named by ``$SAFEPATH_BENCH_DATABASE_URL`` (not ours to measure)."""
        proc = getattr(self._server, "proc", None)
        return None if proc is None else tree_cpu_seconds(proc.pid)

    async def stop(self) -> None:
        try:
            await self.pool.close()
        finally:
            if self._server is not None:
                self._server.stop()
            if self._tmp is not None:  # a 100,000-case store leaves about 2 GB
                shutil.rmtree(self._tmp, ignore_errors=True)


async def preload_pg_stat_statements(url: str, *, max_statements: int | None = None) -> None:
    """Ask Postgres to preload pg_stat_statements (and keep ``max_statements`` of them);
    it takes effect when the server starts again, so call it before a restart."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        if max_statements is not None:
            await conn.execute(f"ALTER SYSTEM SET pg_stat_statements.max = {int(max_statements)}")
    finally:
        await conn.close()


async def create_pg_stat_statements(url: str) -> None:
    """Create the pg_stat_statements view in the database at ``url`` (after the preload and
    restart of ``preload_pg_stat_statements``)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    finally:
        await conn.close()
