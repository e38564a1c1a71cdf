"""The whole system on this machine, for end-to-end and fault tests.

``System`` starts its own Postgres and NATS JetStream from the wheels on free ports (never
the standard ones), creates and migrates a database, and starts each service as its own
OS process exactly as ``make run`` does (``python -m services.<svc>``). Tests then drive
it through HTTP and NATS only, and inject faults: kill a service, stop NATS, restart
Postgres. Everything is stopped by ``stop()`` (or leaving the ``with`` block), also when
a test fails; an ``atexit`` hook catches the rest.

Process control is synchronous (``kill``, ``start``, ``restart``, ``pause``, ``resume``,
``stop_nats``, ...); each has an ``a``-prefixed async twin that runs it in a thread, so a
test can keep load flowing on its event loop while it injects a fault.

``System(replicas=N)`` runs N instances of every service, each its own process on its
own HTTP port, sharing the service's settings, database schema and bus identity (as N
pods of one deployment would). An instance is named ``"case#1"``; a bare ``"case"`` is
instance 0 wherever one process is meant (``kill``, ``pid``, ``url``, ``wait_ready``), and
``client("case")`` / ``transport("case")`` spread requests round-robin over the instances
that are running and not paused. With ``replicas=1`` (the default) everything is as
before: ``"case"`` and ``"case#0"`` are the same process.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import shutil
import signal as signals
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from nats.aio.client import Client as NATS
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from services.migrations import migrate_all
from shared.auth import AuthConfig, mint_token
from shared.bus import connect as connect_bus
from shared.devservers import EmbeddedNats, EmbeddedPostgres, free_port
from shared.installation import Installation
from shared.settings import PROJECT_ROOT, Settings

SERVICES = ("case", "referral", "notify")
DATABASE = "safepath"

# Faster timers for tests that wait for escalations, retries or checkpoints. Opt in with
# ``System(env=FAST_ENV)`` (or merge it with your own).
FAST_ENV: dict[str, str] = {
    "SAFEPATH_REFERRAL_ESCALATION_INTERVAL_SECONDS": "0.5",
    "SAFEPATH_NOTIFY_BACKOFF_SECONDS": "[0.5, 1.0, 2.0, 4.0]",
    "SAFEPATH_NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "2",
    "SAFEPATH_NOTIFY_NATS_TIMEOUT_SECONDS": "2",
    "SAFEPATH_SEAL_INTERVAL_SECONDS": "0.5",
}


class _ExactSettings(Settings):
    """Settings from the given values only, never this process's own environment, so the
    tokens minted here match what the service processes were started with."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def _settings_from_env(env: Mapping[str, str]) -> Settings:
    fields = Settings.model_fields
    values: dict[str, Any] = {
        key.removeprefix("SAFEPATH_").lower(): value
        for key, value in env.items()
        if key.startswith("SAFEPATH_") and key.removeprefix("SAFEPATH_").lower() in fields
    }
    return _ExactSettings(**values)


_running: weakref.WeakSet[System] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:
    for system in list(_running):
        system.stop()


class ServiceNotReady(RuntimeError):
    pass


class System:
    """Postgres, NATS and the three services as separate processes.

    ``env`` is added to every service's environment (e.g. ``SAFEPATH_REFERRAL_SLA_...``,
    ``SAFEPATH_NOTIFY_BACKOFF_SECONDS``); ``service_env`` to one service's only.
    ``tmp`` holds the data and the logs; without it a temporary directory is made and
    removed by ``stop()`` (unless ``keep=True``).
    """

    def __init__(
        self,
        tmp: Path | None = None,
        *,
        env: Mapping[str, str] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        ready_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        keep: bool = False,
        durable: bool = False,
        replicas: int = 1,
    ) -> None:
        if replicas < 1:
            raise ValueError("replicas must be at least 1")
        self._own_tmp = tmp is None
        self.tmp = Path(tmp) if tmp is not None else Path(tempfile.mkdtemp(prefix="safepath-e2e-"))
        self.tmp = self.tmp.resolve()
        self.keep = keep
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self.namespace = f"e2e{uuid.uuid4().hex[:10]}"
        self.host = "127.0.0.1"
        self.ports = {svc: free_port() for svc in SERVICES}  # instance 0 of each service
        self.replicas = replicas
        # "<svc>#<i>" -> its HTTP port (instance 0 on ``ports[svc]``).
        self.instance_ports = {
            f"{svc}#{i}": self.ports[svc] if i == 0 else free_port()
            for svc in SERVICES
            for i in range(replicas)
        }
        self._paused: set[str] = set()
        self._turn: dict[str, int] = {}  # round-robin position per service
        # ``durable``: Postgres as production runs it (fsync, synchronous commit, full page
        # writes). A test that crashes Postgres must use it: without, a crash loses
        # commits that were already acknowledged, and the store rightly reports them lost.
        self.pg = EmbeddedPostgres(self.tmp / "pg", fast=not durable)
        # The bus as `safepath up` sets it up: JWT auth, one identity and key per service.
        self.installation = Installation(self.tmp / "data", self.namespace)
        self.nats = EmbeddedNats(self.tmp / "nats", config=self.installation.server_config())
        self.installation.issue_all()
        # With the embedded server's generated password (tmp/secrets/postgres_password).
        self.database_url = self.pg.url.rsplit("/", 1)[0] + f"/{DATABASE}"
        self.log_dir = self.tmp / "logs"
        self._extra_env = dict(env or {})
        self._service_env = {svc: dict(v) for svc, v in (service_env or {}).items()}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.RLock()
        self._started = False
        self.env = self._base_env()
        self.settings = _settings_from_env(self.env)
        self._auth = AuthConfig.from_settings(self.settings)

    # -- addresses -----------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return self.nats.url

    async def connect_nats(self, identity: str = "setup", **options: Any) -> NATS:
        """A NATS connection as ``identity`` (default: the setup identity, which may read
        every stream; ``"provider:<id>"`` for a provider's own credentials)."""
        creds = self.installation.credentials
        if identity not in ("setup", *SERVICES) and not creds.path(identity).exists():
            creds.issue(identity, self.namespace)
        settings = Settings(
            nats_url=self.nats.url,
            nats_credentials=creds.path(identity),
            namespace=self.namespace,
            data_dir=self.tmp / "data",
        )
        return await connect_bus(settings, identity, **options)

    def url(self, svc: str) -> str:
        """The base URL of an instance (``"case"``: instance 0; ``"case#1"``)."""
        return f"http://{self.host}:{self.instance_ports[self.instance(svc)]}"

    def instance(self, name: str) -> str:
        """The canonical name ``"<svc>#<i>"`` of ``name`` (``"case"`` is ``"case#0"``)."""
        svc, sep, index = name.partition("#")
        _known(svc)
        if not sep:
            return f"{svc}#0"
        if not index.isdigit() or int(index) >= self.replicas:
            raise ValueError(f"no instance {name!r}: {svc} has {self.replicas} instance(s)")
        return f"{svc}#{int(index)}"

    def instances(self, svc: str | None = None) -> list[str]:
        """Every instance name (of ``svc``, when given), e.g. ``["case#0", "case#1"]``."""
        services = SERVICES if svc is None else (_known(svc),)
        return [f"{s}#{i}" for s in services for i in range(self.replicas)]

    def live(self, svc: str) -> list[str]:
        """The instances of ``svc`` whose process runs and is not paused."""
        return [n for n in self.instances(svc) if self.running(n) and n not in self._paused]

    def pick(self, svc: str) -> str:
        """The next live instance of a bare service name, round-robin (``"case#1"``); a
        named instance is returned as it is. When none is live, the next one in turn (its
        requests then fail as they would against a service that is down)."""
        if "#" in svc:
            return self.instance(svc)
        with self._lock:
            turn = self._turn.get(svc, 0)
            self._turn[svc] = turn + 1
        live = self.live(svc) or self.instances(svc)
        return live[turn % len(live)]

    def stream(self, svc: str) -> str:
        """The JetStream stream of a service's events (``<NAMESPACE>_<SVC>``)."""
        return self.settings.stream_name(svc)

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.namespace}_deadletter".upper()

    # -- tokens and clients --------------------------------------------------------

    def token(self, role: str, sub: str | None = None, **claims: Any) -> str:
        """A bearer token the services accept (``provider_id``, ``region``, ``office``...)."""
        return mint_token(self._auth, sub or f"e2e-{role}", role, **claims)

    def headers(self, role: str, sub: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, sub, **claims)}"}

    def client(
        self,
        svc: str,
        role: str | None = None,
        sub: str | None = None,
        *,
        timeout: float = 10.0,
        **claims: Any,
    ) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` on ``svc``'s base URL, authenticated when ``role`` is
        given. Use it as ``async with system.client("case", "caseworker") as c: ...``."""
        headers = self.headers(role, sub, **claims) if role else {}
        # Idle connections are dropped well before the server's keep-alive timeout (uvicorn:
        # 5 s), so a request never goes out on a connection the server is closing.
        limits = httpx.Limits(keepalive_expiry=1.0)
        return httpx.AsyncClient(
            base_url=self.url(svc),
            headers=headers,
            timeout=timeout,
            limits=limits,
            transport=self.transport(svc, limits=limits),
        )

    def transport(
        self, svc: str, *, limits: httpx.Limits | None = None
    ) -> httpx.AsyncBaseTransport | None:
        """For a bare service name with ``replicas > 1``: a transport that sends each
        request to the next live instance (pass it to an ``httpx.AsyncClient`` whose base
        URL is ``url(svc)``). ``None`` (httpx's own) for one instance or a named one."""
        if self.replicas == 1 or "#" in svc:
            return None
        return _Spread(self, _known(svc), limits or httpx.Limits(keepalive_expiry=1.0))

    # -- logs ----------------------------------------------------------------------

    def log_path(self, svc: str) -> Path:
        """The log of an instance (``"case"``: instance 0, ``case.log``; ``"case#1"``:
        ``case-1.log``), or of ``"postgres"``/``"nats"``."""
        if svc == "postgres":
            return self.pg.log_path
        if svc == "nats":
            return self.nats.log_path
        name, index = self.instance(svc).split("#")
        return self.log_dir / (f"{name}.log" if index == "0" else f"{name}-{index}.log")

    def logs(self, svc: str) -> str:
        """Everything ``svc`` (or ``"postgres"``/``"nats"``) wrote, across restarts; a bare
        service name with several instances: all of them, instance 0 first."""
        if svc in SERVICES:
            return "".join(self._read_log(self.log_path(n)) for n in self.instances(svc))
        return self._read_log(self.log_path(svc))

    @staticmethod
    def _read_log(path: Path) -> str:
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def all_logs(self) -> str:
        return "".join(self.logs(svc) for svc in SERVICES)

    def json_logs(self, svc: str) -> list[dict[str, Any]]:
        """The service's JSON log lines, parsed (lines that are not JSON are skipped)."""
        out = []
        for line in self.logs(svc).splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if isinstance(doc, dict):
                out.append(doc)
        return out

    # -- whole system --------------------------------------------------------------

    def __enter__(self) -> System:
        self.start_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start_all(self) -> System:
        """Postgres, NATS, database + migrations, then the three services until ready."""
        _running.add(self)
        self._started = True
        try:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            admin = self.pg.start()
            self.nats.start()
            asyncio.run(_prepare_database(admin, self.database_url))
            asyncio.run(self.installation.declare_streams(self.nats.url))
            for name in self.instances():
                self._spawn(name)
            for name in self.instances():
                self.wait_ready(name)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Services (SIGTERM, then SIGKILL after ``stop_timeout``), NATS, Postgres. Safe to
        call more than once and after a partial start."""
        with self._lock:
            if not self._started:
                return
            self._started = False
            procs = dict(self._procs)
            self._procs.clear()
            paused = set(self._paused)
            self._paused.clear()
        for name, p in procs.items():
            if p.poll() is None:
                p.send_signal(signals.SIGTERM)
                if name in paused:  # a stopped process acts on SIGTERM once continued
                    p.send_signal(signals.SIGCONT)
        deadline = time.monotonic() + self.stop_timeout
        for p in procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for step in (self.nats.stop, self.pg.stop):
            try:
                step()
            except Exception:  # keep stopping the rest
                pass
        _running.discard(self)
        if self._own_tmp and not self.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- services ------------------------------------------------------------------

    def pid(self, svc: str) -> int | None:
        p = self._procs.get(self.instance(svc))
        return p.pid if p is not None and p.poll() is None else None

    def running(self, svc: str) -> bool:
        return self.pid(svc) is not None

    def kill(self, svc: str, signal: int = signals.SIGKILL, timeout: float | None = None) -> int:
        """Send ``signal`` to ``svc`` (an instance) and wait for it to exit; returns its
        exit code. A paused instance is continued after the signal, so it acts on it."""
        key = self.instance(svc)
        with self._lock:
            p = self._procs.pop(key, None)
            was_paused = key in self._paused
            self._paused.discard(key)
        if p is None:
            raise RuntimeError(f"{svc} is not running")
        if p.poll() is None:
            p.send_signal(signal)
            if was_paused:
                p.send_signal(signals.SIGCONT)
        try:
            return p.wait(timeout or self.stop_timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            return p.wait()

    def start(self, svc: str, *, wait: bool = True) -> None:
        """Start ``svc`` again (same port, same environment) and wait for ``/readyz``."""
        self._spawn(svc)
        if wait:
            self.wait_ready(svc)

    def restart(
        self, svc: str, delay: float = 0.0, signal: int = signals.SIGKILL, *, wait: bool = True
    ) -> None:
        """Kill (default ``kill -9``), wait ``delay`` seconds, start again."""
        self.kill(svc, signal)
        time.sleep(delay)
        self.start(svc, wait=wait)

    def pause(self, svc: str) -> None:
        """``SIGSTOP`` an instance: it holds its connections and locks but does nothing
        until ``resume`` (a long GC pause, a frozen VM)."""
        key = self.instance(svc)
        with self._lock:
            p = self._procs.get(key)
            if p is None or p.poll() is not None:
                raise RuntimeError(f"{svc} is not running")
            p.send_signal(signals.SIGSTOP)
            self._paused.add(key)

    def resume(self, svc: str) -> None:
        """``SIGCONT`` a paused instance."""
        key = self.instance(svc)
        with self._lock:
            p = self._procs.get(key)
            if key not in self._paused or p is None:
                raise RuntimeError(f"{svc} is not paused")
            self._paused.discard(key)
            if p.poll() is None:
                p.send_signal(signals.SIGCONT)

    def paused(self, svc: str) -> bool:
        return self.instance(svc) in self._paused

    def dump_tasks(self) -> None:
        """Ask every live instance to log where its tasks wait (``SIGUSR1``): for a test
        that is about to fail on something that never happened."""
        with self._lock:
            procs = [(k, p) for k, p in self._procs.items() if k not in self._paused]
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signals.SIGUSR1)
        time.sleep(0.5)

    def _spawn(self, svc: str) -> None:
        key = self.instance(svc)
        name = key.split("#")[0]
        if not _bindable(self.host, self.instance_ports[key]):
            # While the instance was down, its port was taken (often as the local port of
            # some outgoing connection): it starts on a new one; clients follow.
            self.instance_ports[key] = free_port()
            if key.endswith("#0"):
                self.ports[name] = self.instance_ports[key]
        env = {
            **self.env,
            **self.installation.service_env(name),
            **self._service_env.get(name, {}),
            f"SAFEPATH_{name.upper()}_PORT": str(self.instance_ports[key]),
        }
        with self._lock:
            old = self._procs.get(key)
            if old is not None and old.poll() is None:
                raise RuntimeError(f"{svc} is already running (pid {old.pid})")
            log = open(self.log_path(key), "ab")
            try:
                self._procs[key] = subprocess.Popen(
                    [sys.executable, "-m", f"services.{name}"],
                    env=env,
                    cwd=PROJECT_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            finally:
                log.close()  # the child holds its own copy

    def readyz(self, svc: str) -> tuple[int, dict[str, Any]]:
        """One ``GET /readyz``: status code and body (``(0, {})`` when nothing answers)."""
        try:
            r = httpx.get(f"{self.url(svc)}/readyz", timeout=3.0)
        except httpx.HTTPError:
            return 0, {}
        try:
            body = r.json()
        except ValueError:
            body = {}
        return r.status_code, body if isinstance(body, dict) else {}

    def wait_ready(self, svc: str, timeout: float | None = None) -> float:
        """Poll ``/readyz`` until 200; returns the seconds waited. Fails at once if the
        process exits, with the end of its log."""
        return self._wait(svc, lambda status: status == 200, timeout, "ready")

    def wait_unready(self, svc: str, timeout: float | None = None) -> float:
        """Poll ``/readyz`` until it answers 503 (a dependency is down)."""
        return self._wait(svc, lambda status: status == 503, timeout, "unready")

    def _wait(self, svc: str, done: Any, timeout: float | None, what: str) -> float:
        start = time.monotonic()
        deadline = start + (timeout or self.ready_timeout)
        status, body = 0, dict[str, Any]()
        while time.monotonic() < deadline:
            p = self._procs.get(self.instance(svc))
            if p is None or p.poll() is not None:
                code = None if p is None else p.returncode
                raise ServiceNotReady(
                    f"{svc} is not running (exit {code}); log tail:\n{self._tail(svc)}"
                )
            status, body = self.readyz(svc)
            if done(status):
                return time.monotonic() - start
            time.sleep(0.1)
        raise ServiceNotReady(
            f"{svc} not {what} within {timeout or self.ready_timeout}s (last {status} {body});"
            f" log tail:\n{self._tail(svc)}"
        )

    def _tail(self, svc: str, lines: int = 40) -> str:
        return "\n".join(self._read_log(self.log_path(svc)).splitlines()[-lines:])

    # -- NATS and Postgres ---------------------------------------------------------

    def stop_nats(self, *, kill: bool = False) -> None:
        """Stop the NATS server (SIGTERM, or SIGKILL with ``kill=True``); data stays."""
        proc = self.nats.proc
        if proc is None:
            raise RuntimeError("NATS is not running")
        if kill:
            proc.kill()
            proc.wait()
            self.nats.proc = None
        else:
            self.nats.stop()

    def start_nats(self) -> None:
        """Start NATS again on the same port with the same store directory."""
        if self.nats.proc is not None and self.nats.proc.poll() is None:
            raise RuntimeError("NATS is already running")
        self.nats.start()

    def stop_postgres(self, *, immediate: bool = False) -> None:
        """Fast shutdown (SIGINT), or immediate (SIGQUIT: crash recovery on next start)."""
        proc = self.pg.proc
        if proc is None:
            raise RuntimeError("Postgres is not running")
        if immediate:
            proc.send_signal(signals.SIGQUIT)
            proc.wait(30)
            self.pg.proc = None
        else:
            self.pg.stop()

    def start_postgres(self) -> None:
        """Start Postgres again with the same data directory and port."""
        if self.pg.proc is not None and self.pg.proc.poll() is None:
            raise RuntimeError("Postgres is already running")
        self.pg.start()

    def restart_postgres(self, delay: float = 0.0, *, immediate: bool = False) -> None:
        self.stop_postgres(immediate=immediate)
        time.sleep(delay)
        self.start_postgres()

    # -- async twins (run in a thread; the caller's event loop keeps going) ----------

    async def akill(self, svc: str, signal: int = signals.SIGKILL) -> int:
        return await asyncio.to_thread(self.kill, svc, signal)

    async def astart(self, svc: str, *, wait: bool = True) -> None:
        await asyncio.to_thread(self.start, svc, wait=wait)

    async def arestart(
        self, svc: str, delay: float = 0.0, signal: int = signals.SIGKILL, *, wait: bool = True
    ) -> None:
        await self.akill(svc, signal)
        await asyncio.sleep(delay)
        await self.astart(svc, wait=wait)

    async def await_ready(self, svc: str, within: float | None = None) -> float:
        return await asyncio.to_thread(self.wait_ready, svc, within)

    async def await_unready(self, svc: str, within: float | None = None) -> float:
        return await asyncio.to_thread(self.wait_unready, svc, within)

    async def await_all_ready(self, within: float | None = None) -> None:
        """Every started instance ready (instance 0 of a service none of whose instances
        was started again: that fails, as a service that is down must)."""
        names = []
        for svc in SERVICES:
            started = [n for n in self.instances(svc) if n in self._procs]
            names += started or [self.instance(svc)]
        await asyncio.gather(*(self.await_ready(n, within) for n in names))

    async def apause(self, svc: str) -> None:
        await asyncio.to_thread(self.pause, svc)

    async def aresume(self, svc: str) -> None:
        await asyncio.to_thread(self.resume, svc)

    async def astop_nats(self, *, kill: bool = False) -> None:
        await asyncio.to_thread(self.stop_nats, kill=kill)

    async def astart_nats(self) -> None:
        await asyncio.to_thread(self.start_nats)

    async def arestart_postgres(self, delay: float = 0.0, *, immediate: bool = False) -> None:
        await asyncio.to_thread(self.stop_postgres, immediate=immediate)
        await asyncio.sleep(delay)
        await asyncio.to_thread(self.start_postgres)

    # -- environment ---------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        # This process's own SAFEPATH_* settings (a developer's shell, CI's test servers)
        # must not leak into the system under test.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEPATH_")}
        env.update(
            PYTHONUNBUFFERED="1",
            SAFEPATH_ENVIRONMENT="test",
            SAFEPATH_DATABASE_URL=self.database_url,
            SAFEPATH_NATS_URL=self.nats.url,
            SAFEPATH_NAMESPACE=self.namespace,
            SAFEPATH_HOST=self.host,
            SAFEPATH_CASE_PORT=str(self.ports["case"]),
            SAFEPATH_REFERRAL_PORT=str(self.ports["referral"]),
            SAFEPATH_NOTIFY_PORT=str(self.ports["notify"]),
            SAFEPATH_LOG_FORMAT="json",
            SAFEPATH_LOG_LEVEL="INFO",
            SAFEPATH_DATA_DIR=str(self.tmp / "data"),
            # The tests' and the demo's webhook receivers listen on 127.0.0.1.
            SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS="127.0.0.1",
            # Every test client comes from 127.0.0.1, some of them hundreds of cases at
            # once: limits far above that traffic (shared/guard.py stays in the path).
            SAFEPATH_RATE_LIMIT_PER_MINUTE="100000",
            SAFEPATH_RATE_LIMIT_PER_ADDRESS_PER_MINUTE="100000",
        )
        env.update(self._extra_env)
        return env


class _Spread(httpx.AsyncBaseTransport):
    """Sends each request to the next live instance of one service (``System.pick``)."""

    def __init__(self, system: System, svc: str, limits: httpx.Limits) -> None:
        self.system, self.svc = system, svc
        self._transports = {
            name: httpx.AsyncHTTPTransport(limits=limits) for name in system.instances(svc)
        }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        name = self.system.pick(self.svc)
        port = self.system.instance_ports[name]
        request.url = request.url.copy_with(host=self.system.host, port=port)
        request.headers["host"] = f"{self.system.host}:{port}"
        return await self._transports[name].handle_async_request(request)

    async def aclose(self) -> None:
        for t in self._transports.values():
            await t.aclose()


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


def _known(svc: str) -> str:
    if svc not in SERVICES:
        raise ValueError(f"unknown service {svc!r}; one of {', '.join(SERVICES)}")
    return svc


async def _prepare_database(admin_url: str, database_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        await conn.close()
    await migrate_all(database_url)
