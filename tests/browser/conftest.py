"""The system as ``make run`` starts it (three services and the web app, each its own
process) and Debian's Chromium driven by Playwright's Python client.

No browser is downloaded: Playwright launches the ``chromium`` found on the PATH (or
``SAFEPATH_CHROMIUM``). ``make test`` installs Debian's package first when it can; when
there is no browser these tests FAIL with a message saying how to get one: never a
silent skip. ``SAFEPATH_SCREENSHOTS=1`` (``make screenshots``) writes the screenshots to
docs/screenshots/ instead of the test's temporary directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from shared.devservers import free_port
from shared.settings import PROJECT_ROOT
from tests.e2e.harness import FAST_ENV, System

WEB_LOG = "web.log"


def chromium_path() -> str:
    found = os.environ.get("SAFEPATH_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail(
            "The browser tests need Chromium and none was found. Install Debian's package "
            "(`apt-get install -y chromium`; `make test` does it when run as root) or set "
            "SAFEPATH_CHROMIUM to a Chromium executable.",
            pytrace=False,
        )
    return found


class WebApp:
    """``python -m services.web`` on a free port, pointed at the system's services."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = system.tmp / "logs" / WEB_LOG
        env = {
            **system.env,
            "SAFEPATH_WEB_PORT": str(self.port),
            "SAFEPATH_WEB_CASE_URL": system.url("case"),
            "SAFEPATH_WEB_REFERRAL_URL": system.url("referral"),
            "SAFEPATH_WEB_NOTIFY_URL": system.url("notify"),
        }
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.web"],
                env=env,
                cwd=PROJECT_ROOT,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, self.log.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the web app did not start"
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = System(tmp_path_factory.mktemp("system"), env=FAST_ENV)
    try:
        s.start_all()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def web(system: System) -> Iterator[WebApp]:
    app = WebApp(system)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("SAFEPATH_SCREENSHOTS") == "1":
        out = PROJECT_ROOT / "docs" / "screenshots"
        out.mkdir(parents=True, exist_ok=True)
        return out
    return tmp_path_factory.mktemp("screenshots")
