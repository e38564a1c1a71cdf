"""The provider's side of the API: minimised data, own referrals only, and the write rules."""

from __future__ import annotations

import asyncpg
import httpx

from services.referral.domain.commands import referral_id_for
from shared.pseudonym import case_reference
from shared.settings import Settings
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


async def _routed(pool: asyncpg.Pool, publish: Publish) -> tuple[str, str]:
    case_id, req = new_case_id(), request(needs=["shelter"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    return case_id, rid


async def test_the_provider_sees_only_the_minimised_referral(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    publish: Publish,
    auth: Token,
    settings: Settings,
) -> None:
    case_id, rid = await _routed(pool, publish)
    buston = auth("provider", provider_id=BUSTON)

    listed = await client.get(f"/providers/{BUSTON}/referrals", headers=buston)
    one = await client.get(f"/referrals/{rid}", headers=buston)
    assert listed.status_code == 200 and one.status_code == 200
    assert one.headers["ETag"] == '"1"'
    body = one.json()
    assert listed.json() == [body]
    assert body["case_reference"] == case_reference(settings.case_reference_key.encode(), case_id)
    assert set(body) == {
        "referral_id",
        "case_reference",
        "need",
        "urgency",
        "status",
        "categories",
        "region",
        "district",
        "sex",
        "age_band",
        "language",
        "interpreter_needed",
        "disability",
        "respond_by",
        "version",
    }
    for text in (listed.text, one.text):
        assert case_id not in text and "caseworker-1" not in text and "khujand-nrm" not in text
        assert "consent" not in text and "reasons" not in text

    # Another provider: the referral does not exist for it, nor does Buston's list.
    femida = auth("provider", provider_id="femida-shelter-dushanbe")
    assert (await client.get(f"/referrals/{rid}", headers=femida)).status_code == 404
    assert (await client.get(f"/providers/{BUSTON}/referrals", headers=femida)).status_code == 404
    r = await client.post(f"/referrals/{rid}/accept", headers=femida)
    assert r.status_code == 404 and r.headers["content-type"] == PROBLEM


async def test_roles_are_checked(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, rid = await _routed(pool, publish)
    assert (await client.get(f"/referrals/{rid}")).status_code == 401
    bad = {"Authorization": "Bearer nonsense"}
    assert (await client.get(f"/providers/{BUSTON}/referrals", headers=bad)).status_code == 401
    r = await client.post(f"/referrals/{rid}/accept", headers=auth("caseworker"))
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = await client.get(
        f"/cases/{case_id}/referrals", headers=auth("provider", provider_id=BUSTON)
    )
    assert r.status_code == 403
    # Case roles see it within scope: the request's office, or the supervisor's region.
    mine = await client.get(
        f"/cases/{case_id}/referrals", headers=auth("caseworker", sub="cw-2", office="khujand-nrm")
    )
    other = await client.get(
        f"/cases/{case_id}/referrals", headers=auth("caseworker", sub="cw-2", office="khorog-nrm")
    )
    assert len(mine.json()) == 1 and other.json() == []
    assert (
        await client.get(f"/referrals/{rid}", headers=auth("supervisor", region="gbao"))
    ).status_code == 404
    full = await client.get(f"/referrals/{rid}", headers=auth("supervisor", region="sughd"))
    assert full.json()["case_id"] == case_id and full.json()["provider_id"] == BUSTON


async def test_invalid_answers_are_refused_and_change_nothing(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _routed(pool, publish)
    buston = auth("provider", provider_id=BUSTON)
    for body, path in (
        ({"reason_code": "too_busy"}, "body.reason_code"),
        ({"reason_code": "other", "reason_note": "the survivor's name is ..."}, "body.reason_note"),
        ({}, "body.reason_code"),
    ):
        r = await client.post(f"/referrals/{rid}/decline", json=body, headers=buston)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM
        assert path in [e["path"] for e in r.json()["errors"]]
        assert "survivor" not in r.text
    r = await client.post(f"/referrals/{rid}/start", headers=buston)  # not accepted yet
    assert r.status_code == 409 and r.json()["type"].endswith("invalid_transition")
    assert len(await referral_events(pool, stream=rid)) == 1


async def test_answers_follow_if_match_and_idempotency_keys(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _routed(pool, publish)
    buston = auth("provider", provider_id=BUSTON)
    stale = await client.post(f"/referrals/{rid}/accept", headers={**buston, "If-Match": '"7"'})
    assert stale.status_code == 412 and stale.json()["current_version"] == 1

    key = {**buston, "If-Match": '"1"', "Idempotency-Key": "accept-1"}
    first = await client.post(f"/referrals/{rid}/accept", headers=key)
    again = await client.post(f"/referrals/{rid}/accept", headers=key)
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json() and first.json()["status"] == "accepted"
    assert first.headers["ETag"] == again.headers["ETag"] == '"2"'
    assert len(await referral_events(pool, stream=rid, name="ReferralAccepted")) == 1

    started = await client.post(f"/referrals/{rid}/start", headers={**buston, "If-Match": '"2"'})
    done = await client.post(f"/referrals/{rid}/complete", headers=buston)
    assert started.json()["status"] == "in_service" and done.json()["status"] == "completed"
    names = [n for n, _ in await referral_events(pool, stream=rid)]
    assert names == ["ReferralRouted", "ReferralAccepted", "ServiceStarted", "ServiceCompleted"]
