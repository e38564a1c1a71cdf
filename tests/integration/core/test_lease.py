"""The lease (shared/lease.py) on a real Postgres: one holder, takeover when it dies."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import pytest

from shared.lease import hold, lock_key
from shared.runtime import cancel_until_done

pytestmark = pytest.mark.asyncio


class Role:
    """A role that records which replica is running it, and when."""

    def __init__(self, replica: str, running: list[str]) -> None:
        self.replica = replica
        self.running = running

    async def __call__(self) -> None:
        self.running.append(self.replica)
        try:
            await asyncio.Event().wait()
        finally:
            self.running.remove(self.replica)


async def _until(predicate: Any, within: float = 10.0) -> float:
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > within:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
    return time.monotonic() - start


async def _stop(*tasks: asyncio.Task[None]) -> None:
    for t in tasks:
        await cancel_until_done(t)


async def test_one_holder_at_a_time_and_takeover_when_it_dies(database_url: str) -> None:
    running: list[str] = []
    connections: dict[str, asyncpg.Connection] = {}

    def connecting(replica: str) -> Any:
        async def connect(dsn: str, **kw: Any) -> asyncpg.Connection:
            conn = await asyncpg.connect(dsn, **kw)
            connections[replica] = conn
            return conn

        return connect

    a = asyncio.create_task(
        hold(
            database_url,
            "t.relay",
            Role("a", running),
            connect=connecting("a"),
            retry_seconds=0.2,
            check_seconds=0.2,
        )
    )
    await _until(lambda: running == ["a"])
    b = asyncio.create_task(
        hold(
            database_url,
            "t.relay",
            Role("b", running),
            connect=connecting("b"),
            retry_seconds=0.2,
            check_seconds=0.2,
        )
    )
    try:
        await asyncio.sleep(1.0)
        assert running == ["a"], "only the holder runs the role"
        # The holder's session dies as it would on kill -9: Postgres ends it.
        admin = await asyncpg.connect(database_url)
        try:
            pid = connections["a"].get_server_pid()
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        took = await _until(lambda: running == ["b"], 10.0)
        assert running == ["b"], f"the waiting replica took over ({running})"
        assert took < 5.0
    finally:
        await _stop(a, b)
    assert running == []


async def test_other_leases_are_independent(database_url: str) -> None:
    running: list[str] = []
    tasks = [
        asyncio.create_task(hold(database_url, name, Role(name, running), retry_seconds=0.2))
        for name in ("ns.case.relay", "ns.case.sealer", "ns.referral.relay")
    ]
    try:
        await _until(lambda: len(running) == 3)
    finally:
        await _stop(*tasks)
    assert len({lock_key(n) for n in ("ns.case.relay", "ns.case.sealer")}) == 2
