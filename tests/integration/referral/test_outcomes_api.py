"""Service outcomes through the API: the provider records how the service ended, the
caseworker in scope confirms it, and the referral loop is closed."""

from __future__ import annotations

import asyncpg
import httpx

from services.referral.domain.commands import referral_id_for
from tests.integration.referral.conftest import (
    Publish,
    Token,
    eventually,
    new_case_id,
    referral_events,
    request,
)

BUSTON = "women-and-society-shelter-buston"
PROBLEM = "application/problem+json"


async def test_the_provider_records_the_outcome_and_the_caseworker_closes_the_loop(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, req = new_case_id(), request(needs=["shelter"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    buston = auth("provider", provider_id=BUSTON)
    assert (await client.post(f"/referrals/{rid}/accept", headers=buston)).status_code == 200

    r = await client.post(
        f"/referrals/{rid}/outcome", json={"outcome": "partly_delivered"}, headers=buston
    )
    assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["path"] == "body.reason_code"
    r = await client.post(
        f"/referrals/{rid}/outcome",
        json={"outcome": "partly_delivered", "reason_code": "person_moved"},
        headers=buston,
    )
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text

    cw = auth("caseworker", office="khujand-nrm")
    for headers in (buston, auth("auditor"), auth("admin")):
        r = await client.post(f"/referrals/{rid}/outcome/confirm", headers=headers)
        assert r.status_code == 403
    elsewhere = auth("caseworker", sub="cw-khorog", office="khorog")
    assert (
        await client.post(f"/referrals/{rid}/outcome/confirm", headers=elsewhere)
    ).status_code == 404
    r = await client.post(f"/referrals/{rid}/outcome/confirm", headers=cw)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["outcome"], body["outcome_reason"], body["outcome_confirmed"]) == (
        "partly_delivered",
        "person_moved",
        True,
    )
    again = await client.post(f"/referrals/{rid}/outcome/confirm", headers=cw)
    assert again.status_code == 409
    names = [n for n, _ in await referral_events(pool, stream=rid)]
    assert names[-2:] == ["ServiceOutcomeRecorded", "OutcomeConfirmed"]


async def test_a_follow_up_service_shows_the_referral_it_follows(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    # A prosthesis fitted under one request, then repaired under a follow-up request.
    case_id, fitted = new_case_id(), request(needs=["shelter"])
    await publish(case_id, fitted)
    first = referral_id_for(fitted.referral_id, "shelter")
    repair = request(needs=["shelter"]).model_copy(update={"follows_up": first})
    env = await publish(case_id, repair)
    second = referral_id_for(repair.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=second))

    cw = auth("caseworker", office="khujand-nrm")
    r = await client.get(f"/referrals/{second}", headers=cw)
    assert r.status_code == 200 and r.json()["follows_up"] == first, r.text
    r = await client.get(f"/referrals/{first}", headers=cw)
    assert r.status_code == 200 and r.json()["follows_up"] is None
    listed = (await client.get(f"/cases/{case_id}/referrals", headers=cw)).json()
    assert {x["referral_id"]: x["follows_up"] for x in listed} == {first: None, second: first}
    # Redelivered (past the bus's de-duplication): the link is kept once, unchanged.
    await publish(case_id, repair, envelope=env, msg_id=f"again-{env.id}")
    rows = await pool.fetch(
        "SELECT referral_id, follows_up FROM referral.referral_follow_up WHERE case_id = $1",
        case_id,
    )
    assert [tuple(r) for r in rows] == [(second, first)]
