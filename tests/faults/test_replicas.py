"""Two instances of every service; one instance of each killed (``kill -9``) mid-flow.

Given the whole system with two processes per service (``System(replicas=2)``: same
settings, database schema and bus identity, each its own HTTP port; the flow's requests
go round-robin to the live case instances) and a steady flow of cases
(``tests/faults/load.py``), when instance 0 of each service (the oldest process, so the
one most likely to hold its service's relay and sealer leases) is killed with SIGKILL at
staggered, seeded moments, and the killed case and notify instances are started again a
few seconds later while referral's stays down to the end, then, once the system has
settled by itself:

- nothing lost and nothing doubled (``Ledger.verdict``: one first routing per request
  and need, one notification per routing, one delivery per notification);
- every event of the flow is on its service's stream exactly once (one message per
  CloudEvent id and per ``Nats-Msg-Id``), in version order per event-store stream;
- every consumer applied each stream's events in version order, each once (inbox);
- every service's hash chains and signed checkpoints verify (``GET /audit/verify``).

One summary line (seed, kills, cases, events, lost, doubled, order violations, time to
settle, audits) is printed; docs/reliability.md ("Replicas") quotes it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from nats.js import JetStreamContext

from tests.e2e.harness import FAST_ENV, SERVICES, System
from tests.faults.checks import check_all, emit
from tests.faults.load import CaseFlow, Ledger

RATE = 3.0  # cases a second
BEFORE_FIRST_KILL = (2.0, 4.0)  # seconds of flow before the first kill (seeded)
BETWEEN_KILLS = (2.0, 4.0)
DOWN_FOR = 4.0  # seconds until a killed instance that is restarted starts again
AFTER_KILLS = 10.0  # seconds of flow after the last kill: the survivors take over
SETTLE_WITHIN = 90.0
RESTARTED = {"case": True, "referral": False, "notify": True}


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    env = {**FAST_ENV, "SAFEPATH_NOTIFY_BACKOFF_SECONDS": "[0.5, 1.0, 2.0, 4.0, 8.0]"}
    s = System(tmp_path_factory.mktemp("replicas"), env=env, durable=True, replicas=2)
    try:
        s.start_all()
        yield s
    finally:
        s.stop()


@pytest.fixture
async def js(system: System) -> AsyncIterator[JetStreamContext]:
    nc = await system.connect_nats(
        max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2
    )
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()


async def test_one_instance_of_each_service_killed_mid_flow(
    system: System, js: JetStreamContext, request: pytest.FixtureRequest
) -> None:
    seed = int(os.environ.get("SAFEPATH_REPLICAS_SEED") or random.randrange(1_000_000))
    rng = random.Random(seed)
    emit(request.config, f"replicas: seed {seed} (SAFEPATH_REPLICAS_SEED={seed} replays it)")
    assert all(len(system.live(svc)) == 2 for svc in SERVICES)

    ledger = await Ledger(system, js).start()
    flow = CaseFlow(system, rate=RATE)
    flowing = asyncio.create_task(flow.run())
    began = time.monotonic()
    kills: list[str] = []
    restarts: list[asyncio.Task[None]] = []

    async def start_later(name: str) -> None:
        await asyncio.sleep(DOWN_FOR)
        await system.astart(name)

    try:
        await asyncio.sleep(rng.uniform(*BEFORE_FIRST_KILL))
        for svc in SERVICES:
            name = f"{svc}#0"
            at = time.monotonic() - began
            await system.akill(name)
            if RESTARTED[svc]:
                restarts.append(asyncio.create_task(start_later(name)))
                kills.append(f"{name} at {at:.1f} s (back after {DOWN_FOR:.0f} s)")
            else:
                kills.append(f"{name} at {at:.1f} s (left down)")
            await asyncio.sleep(rng.uniform(*BETWEEN_KILLS))
        await asyncio.sleep(AFTER_KILLS)
        await asyncio.gather(*restarts)
    finally:
        flow.stop()
        stopped = time.monotonic()
        await flowing
        for task in restarts:
            task.cancel()

    await system.await_all_ready(within=60)
    checking = time.monotonic()
    verdict, took = await ledger.settle(flow.opened, SETTLE_WITHIN)
    settle = checking - stopped + took
    checks = await check_all(system, ledger, flow.opened)

    lost = len(verdict.lost) + checks.lost
    doubled = len(verdict.duplicated) + checks.doubled
    audits = "ok" if not checks.audit_problems else f"FAILED ({', '.join(checks.audit_problems)})"
    line = (
        f"replicas: seed {seed}; 2 instances each; killed {'; '.join(kills)};"
        f" cases {len(flow.opened)}, events {verdict.events}, lost {lost}, doubled {doubled},"
        f" order violations {checks.order_violations}, settle {settle:.1f} s,"
        f" applied {checks.applied}, audit verify {audits}; {flow.retries} HTTP retries"
    )
    emit(request.config, line)
    if verdict.lost or checks.failures():
        system.dump_tasks()  # the services' logs then say where each task waited

    why = f"seed {seed}: {line}"
    assert flow.failed == [], (why, flow.failed[:10])
    assert len(flow.opened) == flow.started, why
    assert verdict.routed, "the flow routes something"
    assert verdict.lost == [], (why, verdict.lost[:10])
    assert verdict.duplicated == [], (why, verdict.duplicated[:10])
    assert checks.failures() == {}, (why, checks.failures())
    # The instance left down is still down; its twin did the work.
    assert not system.running("referral#0") and system.running("referral#1")
