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
