"""Withdrawal reaches every provider that received a referral (docs/routing.md).

Against the real referral service: a withdrawn consent, a closed case or an erasure tells
every provider the referral reached to delete it; from then on each gets 410 Gone (no
data) and no longer lists it; each confirms once; the silent are reminded, then escalated
to the coordinator, once each, across restarts and two instances.
"""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from services.referral.domain.commands import referral_id_for
from shared.events.case import ConsentWithdrawn, IdentityErased
from shared.settings import Settings
from tests.integration.referral.conftest import (
    Publish,
    Token,
    eventually,
    fast,
    new_case_id,
    referral_events,
    request,
    running,
)

BUSTON = "women-and-society-shelter-buston"
FEMIDA = "femida-shelter-dushanbe"
PROBLEM = "application/problem+json"


async def _declined_by_buston_accepted_by_femida(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> tuple[str, str]:
    case_id, req = new_case_id(), request(needs=["shelter"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    r = await client.post(
        f"/referrals/{rid}/decline",
        json={"reason_code": "no_capacity"},
        headers=auth("provider", provider_id=BUSTON),
    )
    assert r.status_code == 200, r.text
    r = await client.post(f"/referrals/{rid}/accept", headers=auth("provider", provider_id=FEMIDA))
    assert r.status_code == 200, r.text
    return case_id, rid


async def test_withdrawn_consent_reaches_the_provider_that_declined_and_the_one_that_accepted(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, rid = await _declined_by_buston_accepted_by_femida(client, pool, publish, auth)
    buston, femida = auth("provider", provider_id=BUSTON), auth("provider", provider_id=FEMIDA)
    assert [
        r["referral_id"]
        for r in (await client.get(f"/providers/{FEMIDA}/referrals", headers=femida)).json()
    ] == [rid]

    await publish(case_id, ConsentWithdrawn(consent_id="consent-1"))
    [(_, requested)] = await eventually(
        lambda: referral_events(pool, stream=rid, name="DataDeletionRequested")
    )

    assert requested["provider_ids"] == sorted([BUSTON, FEMIDA])
    assert requested["cause"] == "consent_withdrawn"
    # Each provider it reached now gets 410 with no data, and no longer lists it.
    for headers in (buston, femida):
        gone = await client.get(f"/referrals/{rid}", headers=headers)
        assert gone.status_code == 410 and gone.headers["content-type"] == PROBLEM
        assert "shelter" not in gone.text and "sughd" not in gone.text and case_id not in gone.text
    assert (await client.get(f"/providers/{FEMIDA}/referrals", headers=femida)).json() == []
    r = await client.post(f"/referrals/{rid}/start", headers=femida)
    assert r.status_code == 410  # no more work on it
    # A provider it never reached still learns nothing about it.
    other = auth("provider", provider_id="iom-tajikistan-dushanbe")
    assert (await client.get(f"/referrals/{rid}", headers=other)).status_code == 404
    assert (await client.post(f"/referrals/{rid}/data-deleted", headers=other)).status_code == 404

    # Buston confirms (twice: recorded once); Femida has not yet.
    for _ in range(2):
        r = await client.post(f"/referrals/{rid}/data-deleted", headers=buston)
        assert r.status_code == 200 and r.json()["status"] == "deletion_confirmed", r.text
    confirmed = await referral_events(pool, stream=rid, name="DataDeletionConfirmed")
    assert [d["provider_id"] for _, d in confirmed] == [BUSTON]
    assert (await client.get(f"/referrals/{rid}", headers=buston)).status_code == 410
    seen = (await client.get(f"/referrals/{rid}", headers=auth("admin"))).json()
    assert (seen["status"], seen["deletion_pending"]) == ("withdrawn", [FEMIDA])
    assert sorted(seen["deletion_requested"]) == sorted([BUSTON, FEMIDA])


async def test_only_a_provider_may_confirm_a_deletion(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, rid = await _declined_by_buston_accepted_by_femida(client, pool, publish, auth)
    await publish(case_id, ConsentWithdrawn(consent_id="consent-1"))
    await eventually(lambda: referral_events(pool, stream=rid, name="DataDeletionRequested"))

    for role in ("caseworker", "supervisor", "auditor", "admin"):
        r = await client.post(f"/referrals/{rid}/data-deleted", headers=auth(role))
        assert r.status_code == 403, role
    # Before any withdrawal there is nothing to confirm (the holder gets 409).
    _, rid2 = await _declined_by_buston_accepted_by_femida(client, pool, publish, auth)
    r = await client.post(
        f"/referrals/{rid2}/data-deleted", headers=auth("provider", provider_id=FEMIDA)
    )
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert not await referral_events(pool, stream=rid2, name="DataDeletionConfirmed")


async def test_erasure_reaches_the_provider_of_a_completed_referral(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, rid = await _declined_by_buston_accepted_by_femida(client, pool, publish, auth)
    femida = auth("provider", provider_id=FEMIDA)
    for step in ("start", "complete"):
        assert (await client.post(f"/referrals/{rid}/{step}", headers=femida)).status_code == 200

    await publish(case_id, IdentityErased(erased_by="supervisor-1", reason_code="survivor_request"))
    [(_, requested)] = await eventually(
        lambda: referral_events(pool, stream=rid, name="DataDeletionRequested")
    )

    assert requested["cause"] == "identity_erased"
    assert sorted(requested["provider_ids"]) == sorted([BUSTON, FEMIDA])
    assert not await referral_events(pool, stream=rid, name="ReferralWithdrawn")
    assert (await client.get(f"/referrals/{rid}", headers=femida)).status_code == 410


async def test_the_silent_are_reminded_then_escalated_once_across_restarts(
    settings: Settings, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, req = new_case_id(), request(needs=["shelter"])
    rid = referral_id_for(req.referral_id, "shelter")
    second = 1 / 3600  # hours
    # Given a withdrawal recorded by an instance whose timer would not look for a minute
    slow = fast(deletion_confirm_hours=1.5 * second, deletion_interval_seconds=60)
    async with running(settings, slow):
        await publish(case_id, req)
        await eventually(lambda: referral_events(pool, stream=rid))
        await publish(case_id, ConsentWithdrawn(consent_id="consent-1"))
        await eventually(lambda: referral_events(pool, stream=rid, name="DataDeletionRequested"))
    await asyncio.sleep(1.6)

    # When two instances start after the confirmation deadline passed
    config = fast(
        deletion_confirm_hours=1.5 * second,
        deletion_escalate_hours=0.5 * second,
        deletion_interval_seconds=0.2,
    )
    async with running(settings, config), running(settings, config):
        await eventually(lambda: referral_events(pool, stream=rid, name="DataDeletionEscalated"))
        await asyncio.sleep(1.0)  # several passes of both instances

    # Then Buston was reminded once and its coordinator alerted once
    names = [n for n, _ in await referral_events(pool, stream=rid)]
    assert names == [
        "ReferralRouted",
        "ReferralWithdrawn",
        "DataDeletionRequested",
        "DataDeletionReminded",
        "DataDeletionEscalated",
    ]
    [(_, escalated)] = await referral_events(pool, stream=rid, name="DataDeletionEscalated")
    assert escalated["provider_ids"] == [BUSTON]
    assert escalated["coordinator_id"] is not None
    # And a restart finds nothing more to do
    async with running(settings, config):
        await asyncio.sleep(0.6)
    assert len(await referral_events(pool, stream=rid)) == 5
