"""A follow-up service on a long-term need through the case API: a request may name an
earlier referral of the same case and need once the referral service has reported it
completed; the link shows in the case view and history. Another case's referral reads
exactly like one that does not exist; outside the case's scope it is 404."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.events.referral import ServiceOutcomeRecorded
from tests.integration.case.conftest import Token
from tests.integration.case.stories import give_referral_consent, open_case
from tests.integration.notify.stories import PROVIDER, envelope, eventually, publish, routed

PROBLEM = "application/problem+json"


async def _request(
    client: httpx.AsyncClient, h: dict[str, str], case_id: str, **extra: Any
) -> httpx.Response:
    body = {"needs": ["shelter"], "urgency": "routine", **extra}
    return await client.post(f"/cases/{case_id}/referrals", json=body, headers=h)


async def _status(pool: asyncpg.Pool, referral_id: str) -> str | None:
    found = await pool.fetchval(
        'SELECT status FROM "case".case_referral_status WHERE referral_id = $1', referral_id
    )
    return str(found) if found is not None else None


async def _first_referral(
    client: httpx.AsyncClient, h: dict[str, str], case_id: str
) -> tuple[str, str]:
    """(request id, the shelter need's referral id) of a first request on the case."""
    await give_referral_consent(client, h, case_id)
    r = await _request(client, h, case_id)
    assert r.status_code == 202, r.text
    request_id = str(r.json()["referral_id"])
    return request_id, str(uuid.uuid5(uuid.UUID(request_id), "shelter"))


async def test_a_completed_referral_is_followed_up_on_the_same_need(
    client: httpx.AsyncClient,
    auth: Token,
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
) -> None:
    h = auth("caseworker")
    case_id = await open_case(client, h)
    request_id, fitted = await _first_referral(client, h, case_id)
    first = routed(
        fitted, case_id=case_id, request_id=request_id, region="sughd", district="khujand"
    )
    await publish(js, namespace, envelope(first, fitted))
    await eventually(lambda: _status(pool, fitted), lambda s: s == "routed")

    # Still with the provider: too early for a follow-up (409), nothing recorded.
    r = await _request(client, h, case_id, follows_up=fitted)
    assert r.status_code == 409 and r.headers["content-type"] == PROBLEM
    assert r.json()["type"].endswith("earlier_referral_not_completed")

    outcome = ServiceOutcomeRecorded(
        referral_id=fitted, case_id=case_id, provider_id=PROVIDER, outcome="delivered"
    )
    await publish(js, namespace, envelope(outcome, fitted, version=2))
    await eventually(lambda: _status(pool, fitted), lambda s: s == "completed")

    # Another need than the earlier referral's: 422 at body.needs.
    r = await _request(client, h, case_id, follows_up=fitted, needs=["shelter", "medical"])
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.needs", r.text

    r = await _request(client, h, case_id, follows_up=fitted)
    assert r.status_code == 202, r.text
    view = (await client.get(f"/cases/{case_id}", headers=h)).json()
    assert [x["follows_up"] for x in view["referrals"]] == [None, fitted]
    history = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
    assert history.status_code == 200 and fitted in history.text
    stored = await pool.fetchval(
        """SELECT data->>'follows_up' FROM "case".event WHERE stream_id = $1
           AND event_type = 'org.safepath.case.ReferralRequested.v3'
           ORDER BY stream_version DESC LIMIT 1""",
        case_id,
    )
    assert stored == fitted


async def test_another_cases_referral_reads_like_none_and_scope_is_404(
    client: httpx.AsyncClient,
    auth: Token,
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
) -> None:
    h = auth("caseworker")
    theirs = await open_case(client, h)
    _, fitted = await _first_referral(client, h, theirs)
    done = ServiceOutcomeRecorded(
        referral_id=fitted, case_id=theirs, provider_id=PROVIDER, outcome="delivered"
    )
    await publish(js, namespace, envelope(done, fitted))
    await eventually(lambda: _status(pool, fitted), lambda s: s == "completed")
    ours = await open_case(client, h)
    await give_referral_consent(client, h, ours)
    before = await pool.fetchval('SELECT count(*) FROM "case".event WHERE stream_id = $1', ours)

    # The other case's completed referral, and a made-up id: the same 422, word for word.
    foreign = await _request(client, h, ours, follows_up=fitted)
    made_up = await _request(client, h, ours, follows_up=str(uuid.uuid4()))
    for r in (foreign, made_up):
        assert r.status_code == 422 and r.headers["content-type"] == PROBLEM, r.text
        assert r.json()["errors"][0]["path"] == "body.follows_up"
    assert foreign.json()["errors"] == made_up.json()["errors"]
    assert foreign.json()["detail"] == made_up.json()["detail"]
    assert fitted not in foreign.text and theirs not in foreign.text
    # Not a referral id at all: 422 by the schema.
    r = await _request(client, h, ours, follows_up="SP-ABCD-EFGH-IJKL-MNOP")
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.follows_up"
    assert (
        await pool.fetchval('SELECT count(*) FROM "case".event WHERE stream_id = $1', ours)
        == before
    )

    # Outside the case's scope it does not exist; other roles may not request at all.
    other = auth("caseworker", sub="cw-elsewhere", office="khorog", region="gbao")
    assert (await _request(client, other, theirs, follows_up=fitted)).status_code == 404
    for role in ("provider", "auditor", "coordinator"):
        r = await _request(client, auth(role), theirs, follows_up=fitted)
        assert r.status_code == 403, role
