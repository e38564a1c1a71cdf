"""The coordinator's API against the real service: the Rasht story from issue 13 ends with
a provider (assigned by hand, recorded as outside the rules) or a recorded decision (a new
routing attempt after the directory changed)."""

from __future__ import annotations

import time

import asyncpg
import httpx
import jwt

from services.referral.domain.commands import referral_id_for
from shared.auth import AuthConfig
from shared.events.case import ConsentScope
from shared.settings import Settings
from tests.integration.referral.conftest import (
    Publish,
    Token,
    eventually,
    new_case_id,
    referral_events,
    request,
)

CAMP = "nmac-psychosocial-camp"
PROBLEM = "application/problem+json"


async def _rasht_boy_unroutable(pool: asyncpg.Pool, publish: Publish) -> tuple[str, str]:
    """A 15-year-old mine survivor in Rasht asks for psychosocial support."""
    case_id = new_case_id()
    req = request(
        needs=["psychosocial"],
        urgency="routine",
        categories=["mine_eo"],
        region="drs",
        district="rasht",
        sex="male",
        age_band="12-17",
        office="garm",
        consent=ConsentScope(
            consent_id="consent-1",
            service_types=["psychosocial"],
            provider_ids=[],
            data_categories=["needs", "demographics"],
            expires_at=None,
        ),
    )
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "psychosocial")
    await eventually(lambda: referral_events(pool, stream=rid, name="ReferralUnroutable"))
    return case_id, rid


async def test_the_coordinator_gives_the_rasht_boy_to_the_camp_by_hand(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, rid = await _rasht_boy_unroutable(pool, publish)
    nmac = auth("coordinator", sub="nmac-officer-1", categories=["mine_eo"])

    # The coordinator's queue shows it, minimised, with the reasons; never the case id.
    queue = await client.get("/coordinator/referrals", headers=nmac)
    assert queue.status_code == 200
    [mine] = [r for r in queue.json() if r["referral_id"] == rid]
    assert (mine["status"], mine["coordinator_id"]) == ("unroutable", "nmac")
    assert {e["provider_id"]: e["failed"] for e in mine["reasons"]["excluded"]}[CAMP] == ["area"]
    assert case_id not in queue.text and "caseworker-1" not in queue.text
    # The "view" action of its notification works for it too, minimised the same way.
    one = await client.get(f"/referrals/{rid}", headers=nmac)
    assert one.status_code == 200 and one.json() == mine and case_id not in one.text

    # An unknown provider: 422 naming the field, nothing recorded.
    r = await client.post(
        f"/referrals/{rid}/assign",
        json={"provider_id": "no-such-provider", "reason_code": "travel_arranged"},
        headers=nmac,
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["path"] == "body.provider_id"
    assert not await referral_events(pool, stream=rid, name="ReferralAssignedByHand")

    r = await client.post(
        f"/referrals/{rid}/assign",
        json={"provider_id": CAMP, "reason_code": "travel_arranged"},
        headers=nmac,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["provider_id"], body["attempt"]) == ("awaiting_answer", CAMP, 2)
    assert "assigned by hand" in body["reasons"]["summary"]
    [(_, assigned)] = await referral_events(pool, stream=rid, name="ReferralAssignedByHand")
    assert assigned["overridden"] == ["area"] and assigned["assigned_by"] == "nmac-officer-1"
    assert assigned["reason_code"] == "travel_arranged"
    # The camp now holds it like any routed referral: it reads and accepts it.
    camp = auth("provider", provider_id=CAMP)
    assert (await client.get(f"/referrals/{rid}", headers=camp)).status_code == 200
    assert (await client.post(f"/referrals/{rid}/accept", headers=camp)).status_code == 200
    # A second assignment is refused: it is no longer unroutable.
    again = await client.post(
        f"/referrals/{rid}/assign",
        json={"provider_id": CAMP, "reason_code": "other"},
        headers=nmac,
    )
    assert again.status_code == 409


async def test_rerouting_is_recorded_and_finds_a_provider_once_the_directory_changed(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _rasht_boy_unroutable(pool, publish)
    nmac = auth("coordinator", sub="nmac-officer-1", categories=["mine_eo"])

    r = await client.post(f"/referrals/{rid}/reroute", headers=nmac)
    assert r.status_code == 200 and r.json()["status"] == "unroutable"
    assert r.json()["attempt"] == 2  # the decision is recorded: still nobody

    admin = auth("admin")
    entry = (await client.get(f"/directory/providers/{CAMP}", headers=admin)).json()["provider"]
    assert (entry["as_of"], entry["illustrative"]) == ("2025", False)
    assert "NMAC psychosocial rehabilitation camp" in entry["source"]
    gap = await client.get("/directory/providers/legal-aid-centres-drs", headers=admin)
    assert (
        gap.json()["provider"]["illustrative"] is True and gap.json()["provider"]["source"] is None
    )
    entry["area"] = {"regions": ["sughd", "drs"]}
    put = await client.put(f"/directory/providers/{CAMP}", json=entry, headers=admin)
    assert put.status_code == 200, put.text

    r = await client.post(f"/referrals/{rid}/reroute", headers=nmac)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["provider_id"], r.json()["attempt"]) == (
        "awaiting_answer",
        CAMP,
        3,
    )
    assert not await referral_events(pool, stream=rid, name="ReferralAssignedByHand")


async def test_who_may_act_as_coordinator(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _rasht_boy_unroutable(pool, publish)
    assign = {"provider_id": CAMP, "reason_code": "travel_arranged"}
    for headers in (
        auth("caseworker"),
        auth("supervisor", region="drs"),
        auth("auditor"),
        auth("provider", provider_id=CAMP),
    ):
        assert (
            await client.post(f"/referrals/{rid}/assign", json=assign, headers=headers)
        ).status_code == 403
        assert (await client.post(f"/referrals/{rid}/reroute", headers=headers)).status_code == 403
        assert (await client.get("/coordinator/referrals", headers=headers)).status_code == 403
    # A coordinator bound to another region neither sees nor acts on it (404).
    sughd = auth("coordinator", sub="coordinator-sughd", region="sughd", categories=["mine_eo"])
    listed = (await client.get("/coordinator/referrals", headers=sughd)).json()
    assert rid not in [r["referral_id"] for r in listed]
    r = await client.post(f"/referrals/{rid}/assign", json=assign, headers=sughd)
    assert r.status_code == 404
    assert (await client.get(f"/referrals/{rid}", headers=sughd)).status_code == 404
    assert (await client.post(f"/referrals/{rid}/reroute", headers=sughd)).status_code == 404
    assert not await referral_events(pool, stream=rid, name="ReferralAssignedByHand")
    # The coordinator of the region, and an admin, may.
    drs = auth("coordinator", sub="coordinator-drs", region="drs", categories=["mine_eo"])
    assert rid in [
        r["referral_id"] for r in (await client.get("/coordinator/referrals", headers=drs)).json()
    ]
    assert (
        await client.post(f"/referrals/{rid}/assign", json=assign, headers=auth("admin"))
    ).status_code == 200


async def test_a_coordinator_acts_only_on_the_categories_its_token_names(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token, settings: Settings
) -> None:
    """IMCCTiP (trafficking) and the migration service (refugees) neither see nor act on
    a mine survivor's referral: 404 like another region's, the referral's existence never
    leaked; a coordinator token that names no category acts on none."""
    _, rid = await _rasht_boy_unroutable(pool, publish)
    assign = {"provider_id": CAMP, "reason_code": "travel_arranged"}
    imcctip = auth("coordinator", sub="imcctip-officer", categories=["trafficking"])
    migration = auth("coordinator", sub="migration-officer", categories=["refugee_asylum"])
    unbound = auth("coordinator", sub="statistics-reader")
    for other in (imcctip, migration, unbound):
        for status in ("unroutable", "awaiting_answer"):
            listed = await client.get(
                "/coordinator/referrals", params={"status": status}, headers=other
            )
            assert listed.status_code == 200
            assert rid not in listed.text
        one = await client.get(f"/referrals/{rid}", headers=other)
        assigned = await client.post(f"/referrals/{rid}/assign", json=assign, headers=other)
        rerouted = await client.post(f"/referrals/{rid}/reroute", headers=other)
        for r in (one, assigned, rerouted):
            assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
            assert rid not in r.text
        # The answer is the one a made-up referral id gets: nothing tells them apart.
        made_up_id = referral_id_for(new_case_id(), "psychosocial")
        made_up = await client.post(f"/referrals/{made_up_id}/reroute", headers=other)
        assert made_up.status_code == 404 and made_up.json()["title"] == rerouted.json()["title"]
    assert not await referral_events(pool, stream=rid, name="ReferralAssignedByHand")
    assert len(await referral_events(pool, stream=rid, name="ReferralUnroutable")) == 1

    # The claim binds a coordinator only: on a caseworker's or provider's token it opens
    # nothing (403 as before).
    for role, claims in (("caseworker", {}), ("provider", {"provider_id": CAMP})):
        wider = auth(role, categories=["mine_eo"], **claims)
        r = await client.post(f"/referrals/{rid}/reroute", headers=wider)
        assert r.status_code == 403
    # A forged category is refused outright (401), never read as "every category".
    config = AuthConfig.from_settings(settings)
    forged = jwt.encode(
        {
            "iss": config.issuer,
            "aud": config.audience,
            "sub": "x",
            "role": "coordinator",
            "categories": ["*"],
            "exp": int(time.time()) + 60,
        },
        str(config.hs256_secret),
        algorithm="HS256",
    )
    r = await client.get("/coordinator/referrals", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401

    # NMAC, and a coordinator of several categories including mine_eo, may.
    both = auth("coordinator", sub="joint-desk", categories=["trafficking", "mine_eo"])
    listed = await client.get("/coordinator/referrals", headers=both)
    assert rid in [r["referral_id"] for r in listed.json()]
    r = await client.post(f"/referrals/{rid}/reroute", headers=both)
    assert r.status_code == 200, r.text
