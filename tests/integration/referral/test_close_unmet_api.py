"""The coordinator records that no provider exists for a need (issue 13 item 6): the
Rasht story ends with a recorded decision, ``POST /referrals/{id}/close-unmet``.

Attack tests first: who else could call it, and what bad input changes (nothing)."""

from __future__ import annotations

import asyncpg
import httpx

from services.referral.domain.commands import referral_id_for
from tests.integration.referral.conftest import (
    Publish,
    Token,
    new_case_id,
    referral_events,
)
from tests.integration.referral.test_coordinator_api import CAMP, PROBLEM, _rasht_boy_unroutable

CLOSE = {"reason_code": "no_provider_in_region"}


def _path(rid: str) -> str:
    return f"/referrals/{rid}/close-unmet"


async def test_other_roles_are_refused_and_nothing_is_recorded(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _rasht_boy_unroutable(pool, publish)
    for headers in (
        auth("caseworker"),
        auth("supervisor", region="drs"),
        auth("auditor"),
        auth("provider", provider_id=CAMP),
        auth("caseworker", categories=["mine_eo"]),  # the claim opens nothing off a coordinator
    ):
        r = await client.post(_path(rid), json=CLOSE, headers=headers)
        assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    assert (await client.post(_path(rid), json=CLOSE)).status_code == 401
    assert not await referral_events(pool, stream=rid, name="ReferralClosedUnmet")


async def test_a_coordinator_of_other_categories_or_region_gets_a_made_up_ids_404(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _rasht_boy_unroutable(pool, publish)
    made_up = referral_id_for(new_case_id(), "psychosocial")
    for other in (
        auth("coordinator", sub="imcctip-officer", categories=["trafficking"]),
        auth("coordinator", sub="migration-officer", categories=["refugee_asylum"]),
        auth("coordinator", sub="unbound"),
        auth("coordinator", sub="nmac-sughd", region="sughd", categories=["mine_eo"]),
    ):
        r = await client.post(_path(rid), json=CLOSE, headers=other)
        assert r.status_code == 404 and r.headers["content-type"] == PROBLEM
        assert rid not in r.text
        fake = await client.post(_path(made_up), json=CLOSE, headers=other)
        assert fake.status_code == 404 and fake.json()["title"] == r.json()["title"]
    assert not await referral_events(pool, stream=rid, name="ReferralClosedUnmet")


async def test_a_reason_outside_the_list_or_free_text_is_422_at_its_field(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    _, rid = await _rasht_boy_unroutable(pool, publish)
    nmac = auth("coordinator", sub="nmac-officer-1", categories=["mine_eo"])
    for body in (
        {"reason_code": "his family took him to Khujand"},
        {},
        {"reason_code": "other", "note": "free words are not accepted"},
    ):
        r = await client.post(_path(rid), json=body, headers=nmac)
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, body
        paths = [e["path"] for e in r.json()["errors"]]
        assert paths == (["body.note"] if "note" in body else ["body.reason_code"])
        assert "Khujand" not in r.text
    assert not await referral_events(pool, stream=rid, name="ReferralClosedUnmet")


async def test_nmac_records_that_no_provider_exists_and_the_referral_ends_unmet(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, rid = await _rasht_boy_unroutable(pool, publish)
    nmac = auth("coordinator", sub="nmac-officer-1", categories=["mine_eo"])

    # A stale If-Match is refused (412) and records nothing.
    stale = await client.post(_path(rid), json=CLOSE, headers={**nmac, "If-Match": '"99"'})
    assert stale.status_code == 412
    assert not await referral_events(pool, stream=rid, name="ReferralClosedUnmet")

    key = {"Idempotency-Key": f"close-{rid}"}
    r = await client.post(_path(rid), json=CLOSE, headers={**nmac, **key, "If-Match": '"1"'})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["status"], body["unmet_reason"], body["provider_id"]) == (
        "unmet",
        "no_provider_in_region",
        None,
    )
    assert case_id not in r.text and r.headers["ETag"] == '"2"'
    [(_, decision)] = await referral_events(pool, stream=rid, name="ReferralClosedUnmet")
    assert decision["decided_by"] == "nmac-officer-1" and decision["coordinator_id"] == "nmac"
    assert (decision["need"], decision["reason_code"]) == ("psychosocial", "no_provider_in_region")

    # The same request again (a retry) gets the same answer and records nothing more.
    again = await client.post(_path(rid), json=CLOSE, headers={**nmac, **key})
    assert again.status_code == 200 and again.json() == body
    assert len(await referral_events(pool, stream=rid, name="ReferralClosedUnmet")) == 1

    # It left the queue, and nothing reopens it: 409 for assign, re-route and closing again.
    queue = await client.get("/coordinator/referrals", headers=nmac)
    assert rid not in [q["referral_id"] for q in queue.json()]
    assign = {"provider_id": CAMP, "reason_code": "travel_arranged"}
    for r in (
        await client.post(f"/referrals/{rid}/assign", json=assign, headers=nmac),
        await client.post(f"/referrals/{rid}/reroute", headers=nmac),
        await client.post(_path(rid), json={"reason_code": "other"}, headers=nmac),
    ):
        assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert not await referral_events(pool, stream=rid, name="ReferralAssignedByHand")
    # It still reads, as unmet with its reason.
    one = await client.get(f"/referrals/{rid}", headers=nmac)
    assert one.status_code == 200 and one.json()["status"] == "unmet"
    # The case's people see it too, with the reason (and nobody holding it).
    listed = (await client.get(f"/cases/{case_id}/referrals", headers=auth("admin"))).json()
    [row] = [x for x in listed if x["referral_id"] == rid]
    assert (row["status"], row["unmet_reason"], row["provider_id"], row["respond_by"]) == (
        "unmet",
        "no_provider_in_region",
        None,
        None,
    )
