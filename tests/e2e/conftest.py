"""The whole system as separate processes (``tests.e2e.harness.System``).

``system`` is shared by the tests of one module; override ``system_env`` in a module to
start it with other settings (short SLAs, fast notification retries)::

    @pytest.fixture(scope="module")
    def system_env() -> dict[str, str]:
        return {**FAST_ENV, "SAFEPATH_REFERRAL_SLA_EMERGENCY_SECONDS": "2"}

``make_system`` starts more systems (each with its own servers) inside one test. When a
test that used a system fails, the end of each service's log is added to the report.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import SERVICES, System

MakeSystem = Callable[..., System]


def _drop_data(system: System) -> None:
    # Keep the logs (pytest keeps the last few temporary directories) but not the data.
    for sub in ("pg", "nats", "data", "secrets"):
        shutil.rmtree(system.tmp / sub, ignore_errors=True)


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    """Extra environment for the module's ``system``; override it in a test module."""
    return {}


@pytest.fixture(scope="module")
def system(
    tmp_path_factory: pytest.TempPathFactory, system_env: dict[str, str]
) -> Iterator[System]:
    s = System(tmp_path_factory.mktemp("system"), env=system_env)
    try:
        s.start_all()
        yield s
    finally:
        s.stop()
        _drop_data(s)


@pytest.fixture
def make_system(tmp_path: Path) -> Iterator[MakeSystem]:
    """``make_system(env={...}, service_env={...})`` → a started ``System``, stopped after."""
    made: list[System] = []

    def make(**kwargs: Any) -> System:
        s = System(tmp_path / f"system{len(made)}", **kwargs)
        made.append(s)
        return s.start_all()

    try:
        yield make
    finally:
        for s in made:
            s.stop()
            _drop_data(s)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed and call.when == "call":
        funcargs = getattr(item, "funcargs", {})
        systems = [v for v in funcargs.values() if isinstance(v, System)]
        for s in systems:
            for svc in SERVICES:
                tail = "\n".join(s.logs(svc).splitlines()[-30:])
                report.sections.append((f"{svc} log ({s.log_path(svc)})", tail))
    return report
