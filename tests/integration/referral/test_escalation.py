"""The answer deadline: stored with the routing, escalated once, whatever the restarts."""

from __future__ import annotations

import asyncio

import asyncpg

from services.referral.domain.commands import referral_id_for
from shared.settings import Settings
from tests.integration.referral.conftest import (
    Publish,
    eventually,
    fast,
    new_case_id,
    referral_events,
    request,
    running,
)

BUSTON = "women-and-society-shelter-buston"
FEMIDA = "femida-shelter-dushanbe"


async def test_an_unanswered_referral_escalates_once_across_a_restart(
    settings: Settings, pool: asyncpg.Pool, publish: Publish
) -> None:
    case_id, req = new_case_id(), request(needs=["shelter"], urgency="urgent")
    rid = referral_id_for(req.referral_id, "shelter")
    # Given a referral routed by a service that stops before its 1.5 s deadline passes
    # (and whose scanner would not look again for a minute anyway)
    slow = fast(sla_urgent_seconds=1.5, escalation_interval_seconds=60)
    async with running(settings, slow):
        await publish(case_id, req)
        await eventually(lambda: referral_events(pool, stream=rid))
    row = await pool.fetchrow(
        "SELECT respond_by FROM referral.referral_view WHERE referral_id = $1", rid
    )
    assert row["respond_by"] is not None
    await asyncio.sleep(1.6)

    # When two instances start on the same database after the deadline passed
    config = fast(sla_urgent_seconds=60)
    async with running(settings, config), running(settings, config):
        await eventually(lambda: referral_events(pool, stream=rid, name="ReferralEscalated"))
        await asyncio.sleep(1.0)  # several scanner passes of both instances

    # Then Buston's silence is escalated exactly once and the referral went on to Femida
    names = [n for n, _ in await referral_events(pool, stream=rid)]
    assert names == ["ReferralRouted", "ReferralEscalated", "ReferralRouted"]
    ((_, escalated),) = await referral_events(pool, stream=rid, name="ReferralEscalated")
    assert escalated["provider_id"] == BUSTON
    routed = await referral_events(pool, stream=rid, name="ReferralRouted")
    assert routed[-1][1]["provider_id"] == FEMIDA and routed[-1][1]["attempt"] == 2

    # And a further restart finds nothing due: no second escalation
    async with running(settings, config):
        await asyncio.sleep(0.6)
    assert len(await referral_events(pool, stream=rid, name="ReferralEscalated")) == 1


async def test_an_emergency_chain_ends_with_the_coordinator(
    settings: Settings, pool: asyncpg.Pool, publish: Publish
) -> None:
    case_id, req = new_case_id(), request(needs=["shelter"], urgency="emergency")
    rid = referral_id_for(req.referral_id, "shelter")
    async with running(settings, fast(sla_emergency_seconds=0.3)):
        await publish(case_id, req)
        await eventually(
            lambda: referral_events(pool, stream=rid, name="ReferralUnroutable"), within=15
        )
    escalated = await referral_events(pool, stream=rid, name="ReferralEscalated")
    assert [d["provider_id"] for _, d in escalated] == [BUSTON, FEMIDA]
