"""The harness itself: the system starts as ``make run`` starts it, and survives the faults
the fault suite will inject (a service killed, NATS stopped, Postgres restarted)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter

import pytest

from shared.auth import AuthConfig, mint_token
from tests.e2e.harness import SERVICES, ServiceNotReady, System
from tests.faults.harness_faults import (
    expected_dead_letters,
    publish_malformed,
    republish,
    stream_messages,
    wait_for_dead_letters,
)


async def test_every_service_answers_ready(system: System) -> None:
    for svc in SERVICES:
        async with system.client(svc) as c:
            r = await c.get("/readyz")
        assert r.status_code == 200, (svc, r.text)
        assert r.json()["checks"]["postgres"] == "ok"
        assert r.json()["checks"]["nats"] == "ok"


async def test_every_service_publishes_its_openapi_document(system: System) -> None:
    for svc in SERVICES:
        async with system.client(svc) as c:
            r = await c.get("/openapi.json")
        assert r.status_code == 200, svc
        doc = r.json()
        assert doc["openapi"].startswith("3.")
        assert svc in doc["info"]["title"].lower()
        assert "/readyz" in doc["paths"]


async def test_the_services_accept_the_tokens_the_harness_mints(system: System) -> None:
    for svc in SERVICES:
        async with system.client(svc) as anonymous:
            assert (await anonymous.get("/audit/verify")).status_code == 401
        async with system.client(svc, "caseworker", region="sughd") as caseworker:
            assert (await caseworker.get("/audit/verify")).status_code == 403
        async with system.client(svc, "auditor") as auditor:
            r = await auditor.get("/audit/verify")
        assert r.status_code == 200, (svc, r.text)
        assert r.json()["ok"] is True


async def test_a_token_signed_with_another_secret_is_refused(system: System) -> None:
    other = AuthConfig(
        system.settings.jwt_issuer, system.settings.jwt_audience, hs256_secret="x" * 40
    )
    forged = mint_token(other, "e2e-auditor", "auditor")
    async with system.client("case") as c:
        r = await c.get("/audit/verify", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401


async def test_a_service_killed_with_sigkill_is_ready_again_after_a_restart(
    system: System,
) -> None:
    before = system.pid("referral")

    assert await system.akill("referral", signal.SIGKILL) == -signal.SIGKILL
    assert not system.running("referral")
    assert system.readyz("referral") == (0, {})
    with pytest.raises(ServiceNotReady):
        system.wait_ready("referral", timeout=1)

    await system.astart("referral")

    assert system.pid("referral") not in (None, before)
    assert system.readyz("referral")[0] == 200
    assert system.logs("referral").count("Application startup complete") == 2


async def test_readyz_reports_nats_unavailable_while_nats_is_down(system: System) -> None:
    messages_before = await _stream_messages(system, "referral")
    assert messages_before > 0  # the directory import published events

    await system.astop_nats()
    try:
        for svc in SERVICES:
            await system.await_unready(svc, 10)
            status, body = system.readyz(svc)
            assert status == 503
            assert body["checks"]["nats"] == "unavailable"
            assert body["checks"]["postgres"] == "ok"
    finally:
        await system.astart_nats()
    await system.await_all_ready(within=20)

    # Same store directory: the streams kept their messages.
    assert await _stream_messages(system, "referral") == messages_before


async def test_readyz_recovers_after_postgres_restarts(system: System) -> None:
    await asyncio.to_thread(system.stop_postgres)
    try:
        for svc in SERVICES:
            await system.await_unready(svc, 10)
            status, body = system.readyz(svc)
            assert status == 503
            assert body["checks"]["postgres"].startswith("unavailable")
    finally:
        await asyncio.to_thread(system.start_postgres)
    await system.await_all_ready(within=20)

    await system.arestart_postgres(immediate=True)  # a crash: recovery on start
    await system.await_all_ready(within=20)
    async with system.client("case", "auditor") as auditor:
        assert (await auditor.get("/audit/verify")).status_code == 200


async def _stream_messages(system: System, svc: str) -> int:
    nc = await system.connect_nats()
    try:
        info = await nc.jetstream().stream_info(system.stream(svc))
        return int(info.state.messages)
    finally:
        await nc.close()


async def test_malformed_messages_are_dead_lettered_by_every_consumer(system: System) -> None:
    nc = await system.connect_nats()
    try:
        js = nc.jetstream()
        poisons = await publish_malformed(js, system.namespace, system.installation.event_keys())
        expected = expected_dead_letters(poisons)
        # case and referral streams: 5 poisons x 2 consumers each; notify stream: 10
        # poisons x 2 consumers that receive each subject, but for the case service's,
        # which does not read NotificationRedeliveryRequested and passes its schema
        # violation over unparsed
        assert sum(expected.values()) == 5 * 2 + 5 * 2 + 10 * 2 - 1

        letters = await wait_for_dead_letters(
            js, system.namespace, sum(expected.values()), subjects={p.subject for p in poisons}
        )
    finally:
        await nc.close()

    ours = [d for d in letters if any(d.original_subject == p.subject for p in poisons)]
    got = Counter((d.consumer, d.original_subject) for d in ours)
    assert got == expected
    for p in poisons:
        reasons = {d.reason for d in ours if d.data == p.data}
        assert reasons and all(r.startswith(p.reason_prefix) for r in reasons), (p.kind, reasons)
    for svc in SERVICES:
        assert system.readyz(svc)[0] == 200


async def test_old_messages_can_be_republished_as_duplicates_or_out_of_order(
    system: System,
) -> None:
    nc = await system.connect_nats()
    try:
        js = nc.jetstream()
        stream = system.stream("referral")
        old = (await stream_messages(js, stream))[:5]
        assert len(old) == 5 and all(m.msg_id for m in old)
        before = (await js.stream_info(stream)).state.messages

        # With the original ids JetStream drops the copies inside its duplicate window.
        assert all(a.duplicate for a in await republish(js, old, keep_msg_id=True))
        # With fresh ids they are stored again, here in reverse order, bytes unchanged.
        acks = await republish(js, old, order="reverse")
        assert not any(a.duplicate for a in acks)
        copies = await stream_messages(js, stream, first_seq=acks[0].seq)
        assert [c.data for c in copies] == [m.data for m in reversed(old)]
        assert (await js.stream_info(stream)).state.messages == before + 5
    finally:
        await nc.close()

    # The relay reads its stream's last message when it starts: a copy must not upset it.
    await system.arestart("referral")
    assert system.readyz("referral")[0] == 200
