"""Six faults, each injected while cases flow; afterwards nothing is lost or doubled.

Given the whole system as separate processes (Postgres, NATS, the three services) and a
steady flow of cases (3 a second, each with a profile, a consent and a referral request
of one or two needs; ``tests/faults/load.py``), when one fault is injected mid-flow:

1. ``kill -9`` of each service in turn at a random moment, restarted after a delay;
2. NATS stopped for 10 s and started again on the same store;
3. Postgres crashed (immediate shutdown) and started again;
4. duplicate and out-of-order delivery: the flow's messages on the case, referral and
   notify streams republished in reverse order (same CloudEvent ids, fresh
   ``Nats-Msg-Id`` so that every consumer receives them again);
5. malformed messages on every consumed subject;
6. the Buston shelter's webhook receiver down, then answering slower than the timeout,
   then well;

then, once the system has settled by itself (nothing is restarted but what the fault
killed): every request and need was routed or found unroutable once (first attempt),
every such referral produced one notification to the right recipient, delivered once
on NATS (and once by webhook to the shelter), every malformed message was dead-lettered
with its reason by every consumer that received it, and every service's hash chains
verify. The tests share one system; each checks only the cases it opened itself.
A summary table (fault, cases, events, lost, duplicated, time to settle) is printed at
the end of the module; the latest figures are in docs/reliability.md ("Faults").
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, cast

import pytest
from nats.js import JetStreamContext

from tests.e2e.harness import FAST_ENV, SERVICES, System
from tests.faults.checks import SUMMARY_FILE
from tests.faults.harness_faults import (
    expected_dead_letters,
    publish_malformed,
    republish,
    stream_messages,
    wait_for_dead_letters,
)
from tests.faults.load import CaseFlow, Ledger, Opened, StreamTail, Verdict, audit_chains_verify
from tests.faults.receiver import WebhookReceiver

RATE = 3.0  # cases a second
FLOW = 15.0  # seconds of flow at least, longer when the fault takes longer
AFTER_FAULT = 2.0  # seconds of flow after the fault is over
SETTLE_WITHIN = 75.0
BUSTON = "women-and-society-shelter-buston"  # gets the Khujand flow's shelter referrals


@dataclass
class Row:
    fault: str
    cases: int
    events: int
    lost: int
    duplicated: int
    settle: float
    note: str


ROWS: list[Row] = []


def table(rows: list[Row]) -> str:
    lines = [
        "| fault | cases | events | lost | duplicated | time to settle | notes |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r.fault} | {r.cases} | {r.events} | {r.lost} | {r.duplicated} |"
        f" {r.settle:.1f} s | {r.note} |"
        for r in rows
    ]
    return "\n".join(lines)


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    # One more retry than FAST_ENV, so a webhook down for a few seconds and then slow is
    # retried until it recovers rather than given up on (fault 6).
    env = {**FAST_ENV, "SAFEPATH_NOTIFY_BACKOFF_SECONDS": "[0.5, 1.0, 2.0, 4.0, 8.0]"}
    s = System(tmp_path_factory.mktemp("faults"), env=env, durable=True)
    try:
        s.start_all()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if not ROWS:
        return
    capture = request.config.pluginmanager.getplugin("capturemanager")
    cm = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with cm:
        print("\n\nFault injection summary\n" + table(ROWS) + "\n")
    if path := os.environ.get(SUMMARY_FILE):  # every run's table, for make test-faults-soak
        with open(path, "a", encoding="utf-8") as f:
            f.write("Fault injection summary\n" + table(ROWS) + "\n")


@pytest.fixture
async def js(system: System) -> AsyncIterator[JetStreamContext]:
    nc = await system.connect_nats(
        max_reconnect_attempts=-1, reconnect_time_wait=0.5, connect_timeout=2
    )
    try:
        yield nc.jetstream(timeout=5.0)
    finally:
        await nc.close()


Fault = Callable[[Ledger], Awaitable[str]]


async def under_fault(
    system: System,
    js: JetStreamContext,
    name: str,
    fault: Fault,
    *,
    restarts: bool = False,
    webhook_providers: frozenset[str] = frozenset(),
) -> Verdict:
    """Run the flow, inject ``fault`` into it, let it settle, check the invariants."""
    pids = {svc: system.pid(svc) for svc in SERVICES}
    ledger = await Ledger(system, js).start()
    flow = CaseFlow(system, rate=RATE)
    flowing = asyncio.create_task(flow.run())
    began = time.monotonic()
    try:
        note = await fault(ledger)
        await asyncio.sleep(max(AFTER_FAULT, FLOW - (time.monotonic() - began)))
    finally:
        flow.stop()
        stopped = time.monotonic()
        await flowing  # the cases still in flight finish (their retries included)
    await system.await_all_ready(within=60)
    checking = time.monotonic()
    verdict, took = await ledger.settle(
        flow.opened, SETTLE_WITHIN, webhook_providers=webhook_providers
    )
    settle = checking - stopped + took  # from the end of the flow until nothing is missing
    audits = await audit_chains_verify(system)
    ROWS.append(
        Row(
            name,
            len(flow.opened),
            verdict.events,
            len(verdict.lost),
            len(verdict.duplicated),
            settle,
            f"{note}; {verdict.expected} referrals"
            f" ({len(verdict.routed)} routed, {len(verdict.unroutable)} unroutable);"
            f" {flow.retries} HTTP retries",
        )
    )
    print(f"\n{name}: {ROWS[-1]}")
    if verdict.lost:
        system.dump_tasks()  # the services' logs then say where each task waited

    assert flow.failed == [], flow.failed
    assert len(flow.opened) == flow.started
    assert verdict.routed, "the flow routes something"
    assert verdict.lost == [], verdict.lost[:10]
    assert verdict.duplicated == [], verdict.duplicated[:10]
    broken = {svc: a for svc, a in audits.items() if a.get("ok") is not True}
    assert broken == {}, broken
    if not restarts:  # no process was restarted by anyone: they recovered by themselves
        assert {svc: system.pid(svc) for svc in SERVICES} == pids
    return verdict


async def test_kill_9_of_each_service_in_turn(system: System, js: JetStreamContext) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)

    async def kill_each(_: Ledger) -> str:
        done = []
        for svc in SERVICES:
            await asyncio.sleep(rng.uniform(0.5, 2.5))
            await system.akill(svc)
            down = rng.uniform(1.0, 2.5)
            await asyncio.sleep(down)
            await system.astart(svc)
            done.append(f"{svc} {down:.1f}s")
        return f"seed {seed}; down: {', '.join(done)}"

    await under_fault(system, js, "kill -9 each service", kill_each, restarts=True)


async def test_nats_stopped_for_ten_seconds(system: System, js: JetStreamContext) -> None:
    async def stop_nats(_: Ledger) -> str:
        await asyncio.sleep(2.0)
        await system.astop_nats()
        await asyncio.sleep(10.0)
        await system.astart_nats()
        return "NATS down 10 s"

    await under_fault(system, js, "NATS stopped 10 s", stop_nats)


async def test_postgres_restarted(system: System, js: JetStreamContext) -> None:
    async def restart_postgres(_: Ledger) -> str:
        await asyncio.sleep(3.0)
        began = time.monotonic()
        await system.arestart_postgres(delay=2.0, immediate=True)
        return f"Postgres crashed, back after {time.monotonic() - began:.1f} s"

    await under_fault(system, js, "Postgres restarted", restart_postgres)


async def test_duplicate_and_out_of_order_delivery(system: System, js: JetStreamContext) -> None:
    async def duplicate(ledger: Ledger) -> str:
        copies = 0
        for when, order in ((5.0, "reverse"), (4.0, "shuffle")):
            await asyncio.sleep(when)
            for key in ("case", "referral", "notify"):
                tail = ledger.tails[key]
                old = await stream_messages(js, tail.stream, first_seq=tail.next_seq)
                copies += len(await republish(js, old, order=order, seed=7))
        return f"{copies} messages republished (reverse, then shuffled)"

    await under_fault(system, js, "duplicate + out-of-order", duplicate)


async def test_malformed_messages_are_dead_lettered(system: System, js: JetStreamContext) -> None:
    async def poison(_: Ledger) -> str:
        await asyncio.sleep(3.0)
        poisons = await publish_malformed(
            js, system.namespace, system.installation.event_keys(), ["case", "referral", "notify"]
        )
        expected = expected_dead_letters(poisons)
        letters = await wait_for_dead_letters(
            js, system.namespace, sum(expected.values()), subjects={p.subject for p in poisons}
        )
        got = Counter((d.consumer, d.original_subject) for d in letters)
        assert got == expected
        for p in poisons:
            reasons = {d.reason for d in letters if d.data == p.data}
            assert reasons and all(r.startswith(p.reason_prefix) for r in reasons), p
        consumers = len({c for c, _ in expected})
        letters_n = sum(expected.values())
        return f"{len(poisons)} poisons → {letters_n} dead letters ({consumers} consumers)"

    await under_fault(system, js, "malformed messages", poison)


async def test_webhook_receiver_down_then_slow_then_well(
    system: System, js: JetStreamContext
) -> None:
    timeout = float(FAST_ENV["SAFEPATH_NOTIFY_WEBHOOK_TIMEOUT_SECONDS"])
    receiver = WebhookReceiver(delay=timeout + 1.0, slow=True)
    async with system.client("notify", "admin") as admin:
        r = await admin.put(f"/providers/{BUSTON}/webhook", json={"url": receiver.url})
    assert r.status_code in (200, 201), r.text

    async def flaky(_: Ledger) -> str:
        await asyncio.sleep(4.0)  # down: connection refused
        await receiver.up()  # slow: every answer after the timeout
        await asyncio.sleep(4.0)
        receiver.slow = False  # well
        return "webhook down 4 s, slower than the timeout 4 s"

    try:
        verdict = await under_fault(
            system, js, "webhook down, slow, well", flaky, webhook_providers=frozenset({BUSTON})
        )
    finally:
        await receiver.down()
    to_buston = {rid for rid, p in verdict.routed.items() if p == BUSTON}
    assert to_buston, "the flow routes shelter needs to the Buston shelter"
    # Every notification notify recorded as delivered by webhook reached the receiver (at
    # least once: a POST answered after the timeout is tried again, and the receiver
    # deduplicates on webhook-id).
    assert set(verdict.webhook_delivered) <= set(receiver.posts)
    assert len(verdict.webhook_delivered) == len(to_buston)
    ROWS[
        -1
    ].note += f"; {len(to_buston)} webhook notifications, {sum(receiver.posts.values())} POSTs"


# -- the checker itself, on made-up streams: it must see what it is there to see --------


class _Names:
    namespace = "x"

    def stream(self, svc: str) -> str:
        return f"X_{svc.upper()}"


def _ce(event: str, data: dict[str, Any], subject: str = "") -> dict[str, Any]:
    svc = "notify" if event.startswith("Notification") else "referral"
    return {
        "id": str(uuid.uuid4()),
        "type": f"org.safepath.{svc}.{event}.v1",
        "subject": subject,
        "data": data,
    }


def _ledger(events: dict[str, list[tuple[str, dict[str, Any]]]]) -> Ledger:
    ledger = Ledger(cast(System, _Names()), cast(JetStreamContext, None))
    for key, stream in ledger.names.items():
        tail = StreamTail(cast(JetStreamContext, None), stream, 1)
        for subject, ce in events.get(key, []):
            tail.events[ce["id"]] = (subject, ce)
        ledger.tails[key] = tail
    return ledger


def _routed(referral: str, attempt: int = 1) -> dict[str, Any]:
    data = {"referral_id": referral, "case_id": "c1", "request_id": "q1", "need": "shelter"}
    return _ce("ReferralRouted", {**data, "attempt": attempt, "provider_id": "p1"})


def test_the_checker_counts_a_lost_and_a_doubled_effect() -> None:
    opened = [Opened("c1", "q1", ["shelter", "medical"])]
    told = _ce("NotificationQueued", {"kind": "new_referral"}, subject="r1")
    told["data"] = {"kind": "new_referral"}
    delivered = _ce("NotificationDelivered", {"notification_id": told["id"], "channel": "nats"})
    again = _ce("NotificationDelivered", {"notification_id": told["id"], "channel": "nats"})
    ledger = _ledger(
        {
            "referral": [("", _routed("r1")), ("", _routed("r1", attempt=2))],
            "notifications": [("x.provider.p1.notifications", told)],
            "notify": [("", delivered), ("", again)],
        }
    )
    v = ledger.verdict(opened)
    assert v.lost == ["no routing for q1 medical"]
    assert v.duplicated == [f"notification {told['id']} delivered 2 times on NATS"]

    # A second first routing of the same need, and a notification missing for it.
    ledger.tails["referral"].events.update({(e := _routed("r2"))["id"]: ("", e)})
    v = ledger.verdict(opened)
    assert "2 first routings for ('q1', 'shelter')" in v.duplicated
    assert "no new_referral notification for referral r2" in v.lost
