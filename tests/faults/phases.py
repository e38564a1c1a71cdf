"""Bounded phases for the long fault tests, so that one that hangs says where.

pytest-timeout ends a hung test with the stack of the main thread only: an event loop
waiting in ``select``, which says nothing. ``phase`` bounds one step of a test (the flow,
its drain, settling, the checks), prints when each step began and how long it took, and,
when a step does not end within its bound, prints where every task of the test's own
event loop waits and asks each service instance to log where its tasks wait
(``SIGUSR1``, see ``shared/runtime.py``), then prints those lines too.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import AsyncIterator

import pytest

from tests.e2e.harness import System
from tests.faults.checks import emit


class PhaseTimeout(AssertionError):
    """A phase of a fault test did not end within its bound."""


@contextlib.asynccontextmanager
async def phase(
    config: pytest.Config, system: System, name: str, within: float
) -> AsyncIterator[None]:
    start = time.monotonic()
    emit(config, f"phase {name}: began (bound {within:.0f} s)")
    timer = asyncio.timeout(within)
    try:
        async with timer:
            yield
    except TimeoutError:
        if not timer.expired():
            raise  # a TimeoutError of the step itself, not of the bound
        emit(config, f"phase {name}: NOT OVER after {within:.0f} s; the test's tasks:")
        emit(config, loop_tasks())
        emit(config, await service_tasks(system))
        raise PhaseTimeout(f"{name} did not end within {within:.0f} s") from None
    emit(config, f"phase {name}: over in {time.monotonic() - start:.1f} s")


def loop_tasks(limit: int = 12) -> str:
    """Where each task of the running event loop waits (innermost frames last)."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        if task is asyncio.current_task():
            continue
        out.write(f"-- {task.get_name()}: {task.get_coro()!r}\n")
        task.print_stack(limit=limit, file=out)
    return out.getvalue()


async def service_tasks(system: System, most: int = 20_000) -> str:
    """Each live instance's ``task_waiting`` lines after a ``SIGUSR1`` (the last ``most``
    characters of them)."""
    await asyncio.to_thread(system.dump_tasks)
    await asyncio.sleep(1.0)
    lines = []
    for name in system.instances():
        for line in system.logs(name).splitlines():
            if "task_waiting" in line:
                lines.append(f"{name}: {line}")
    text = "\n".join(lines)
    return text[-most:]
