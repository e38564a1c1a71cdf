"""``safepath up`` (what ``make run`` runs) supervises what it started.

A service killed with SIGKILL is started again; TERM stops everything, the embedded
Postgres and NATS included, within seconds; a second ``safepath up`` on the same data
directory and ports then starts cleanly. Ports are free ones, never the defaults.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from shared.devservers import free_port, port_open
from shared.settings import PROJECT_ROOT

SERVICES = ("case", "referral", "notify", "web")  # `up` starts the web app too


class Up:
    def __init__(self, tmp: Path) -> None:
        self.ports = {name: free_port() for name in ("pg", "nats", *SERVICES)}
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SAFEPATH_")}
        self.env.update(
            SAFEPATH_ENVIRONMENT="development",
            SAFEPATH_DATA_DIR=str(tmp / "data"),
            SAFEPATH_EMBEDDED_POSTGRES_PORT=str(self.ports["pg"]),
            SAFEPATH_EMBEDDED_NATS_PORT=str(self.ports["nats"]),
            SAFEPATH_CASE_PORT=str(self.ports["case"]),
            SAFEPATH_REFERRAL_PORT=str(self.ports["referral"]),
            SAFEPATH_NOTIFY_PORT=str(self.ports["notify"]),
            SAFEPATH_WEB_PORT=str(self.ports["web"]),
            SAFEPATH_LOG_FORMAT="json",
        )
        self.log = tmp / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.offset = 0

    def start(self) -> None:
        # What this start printed, not the one before.
        self.offset = len(self.log.read_text(errors="replace")) if self.log.exists() else 0
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", "from services.cli import main; main(['up'])"],
                env=self.env,
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.wait_for("Press Ctrl-C", 120)

    def text(self) -> str:
        return self.log.read_text(errors="replace")[self.offset :] if self.log.exists() else ""

    def wait_for(self, fragment: str, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if fragment in self.text():
                return
            assert self.proc is not None and self.proc.poll() is None, self.text()[-3000:]
            time.sleep(0.2)
        raise AssertionError(f"{fragment!r} not seen within {within}s:\n{self.text()[-3000:]}")

    def ready(self, svc: str) -> bool:
        try:
            r = httpx.get(f"http://127.0.0.1:{self.ports[svc]}/readyz", timeout=2)
        except httpx.HTTPError:
            return False
        return r.status_code == 200

    def service_pid(self, svc: str) -> int:
        assert self.proc is not None
        for child in psutil.Process(self.proc.pid).children():
            if f"services.{svc}" in " ".join(child.cmdline()):
                return child.pid
        raise AssertionError(f"no {svc} process under safepath up")

    def terminate(self, within: float = 40) -> float:
        assert self.proc is not None
        family = psutil.Process(self.proc.pid).children(recursive=True)
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(within)
        psutil.wait_procs(family, timeout=max(1.0, within - (time.monotonic() - started)))
        return time.monotonic() - started

    def kill_all(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                child.kill()
            self.proc.kill()


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    u = Up(tmp_path)
    try:
        yield u
    finally:
        u.kill_all()


def test_up_restarts_a_killed_service_and_stops_everything_on_term(up: Up) -> None:
    up.start()
    assert all(up.ready(svc) for svc in SERVICES), up.text()[-2000:]

    os.kill(up.service_pid("referral"), signal.SIGKILL)
    up.wait_for("the referral service exited with code -9; restarting it", 30)
    deadline = time.monotonic() + 60
    while not up.ready("referral"):
        assert time.monotonic() < deadline, up.text()[-3000:]
        time.sleep(0.3)
    assert up.ready("case") and up.ready("notify")  # the others never stopped

    took = up.terminate()
    assert took < 40
    for name, port in up.ports.items():
        assert not port_open(port), f"{name} still listens on {port} after TERM"

    # A second start on the same data directory and ports finds nothing in its way.
    up.start()
    assert all(up.ready(svc) for svc in SERVICES), up.text()[-2000:]
    up.terminate()
