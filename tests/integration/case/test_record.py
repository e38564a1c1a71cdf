"""The case's record: referral status and history from other services, access log,
state as of a moment, erasure that keeps the audit trail verifiable."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.chain import verify_chains
from shared.events.referral import ReferralAccepted
from tests.integration.case.stories import (
    GIVEN_NAME,
    PHONE,
    give_referral_consent,
    open_case,
)
from tests.integration.notify.stories import envelope, eventually, publish, routed


async def _request_referral(client: httpx.AsyncClient, h: dict[str, str], case_id: str) -> str:
    await give_referral_consent(client, h, case_id)
    r = await client.post(
        f"/cases/{case_id}/referrals", json={"needs": ["shelter"], "urgency": "urgent"}, headers=h
    )
    assert r.status_code == 202, r.text
    return str(r.json()["referral_id"])


async def test_referral_status_and_history_come_back_once(
    client: httpx.AsyncClient,
    auth,
    js: JetStreamContext,
    namespace: str,  # type: ignore[no-untyped-def]
) -> None:
    h = auth("caseworker", office="khujand")
    case_id = await open_case(client, h)
    request_id = await _request_referral(client, h, case_id)
    rid = "11111111-2222-4333-8444-555555555555"
    ev = routed(rid, case_id=case_id, request_id=request_id, region="sughd", district="khujand")
    env = envelope(ev, rid)
    await publish(js, namespace, env)
    await publish(js, namespace, env, msg_id="a-second-delivery")  # the inbox must dedupe
    accepted = envelope(
        ReferralAccepted(referral_id=rid, case_id=case_id, provider_id=ev.provider_id),
        rid,
        version=2,
    )
    await publish(js, namespace, accepted)

    async def status() -> str:
        body = (await client.get(f"/cases/{case_id}", headers=h)).json()
        return str(body["referrals"][0]["status"])

    await eventually(status, lambda s: s == "accepted")
    view = (await client.get(f"/cases/{case_id}", headers=h)).json()["referrals"][0]
    assert view["per_need"][0]["provider_id"] == ev.provider_id

    a = auth("auditor")
    hist = (await client.get(f"/cases/{case_id}/history", headers=a)).json()["entries"]
    types = [e["type"].split(".")[3] for e in hist]
    assert types.count("ReferralRouted") == 1 and types.count("ReferralAccepted") == 1
    assert types[0] == "CaseOpened" and "ReferralRequested" in types
    assert {e["service"] for e in hist} == {"case", "referral"}
    text = json.dumps(hist)
    assert GIVEN_NAME not in text and PHONE not in text  # ciphertext only

    only = (await client.get(f"/cases/{case_id}/history?type=ReferralRouted", headers=a)).json()[
        "entries"
    ]
    assert [e["type"].split(".")[3] for e in only] == ["ReferralRouted"]

    nd = await client.get(
        f"/cases/{case_id}/history", headers={**a, "Accept": "application/x-ndjson"}
    )
    lines = [json.loads(x) for x in nd.text.splitlines()]
    assert nd.headers["content-type"].startswith("application/x-ndjson") and len(lines) == len(hist)
    c = await client.get(f"/cases/{case_id}/history", headers={**a, "Accept": "text/csv"})
    rows = list(csv.reader(io.StringIO(c.text)))
    assert rows[0][:4] == ["id", "time", "service", "type"] and len(rows) == len(hist) + 1

    assert (await client.get(f"/cases/{case_id}/history", headers=h)).status_code == 403


async def test_access_log_lists_identifying_reads(client: httpx.AsyncClient, auth) -> None:  # type: ignore[no-untyped-def]
    h = auth("caseworker", sub="aziz", office="khujand")
    case_id = await open_case(client, h)
    await client.get(f"/cases/{case_id}", headers=h)
    await client.get("/cases", headers=h)  # a list read reveals nothing: not recorded
    log = (await client.get(f"/cases/{case_id}/access-log", headers=auth("auditor"))).json()
    assert len(log["reads"]) == 1
    read = log["reads"][0]
    assert read["who"] == "aziz" and read["endpoint"] == "GET /cases/{case_id}"
    assert "profile.given_name" in read["fields"]


async def test_as_of_gives_the_state_before_and_after_each_event(
    client: httpx.AsyncClient,
    auth,
    pool: asyncpg.Pool,  # type: ignore[no-untyped-def]
) -> None:
    h = auth("caseworker", office="khujand")
    case_id = await open_case(client, h)
    await _request_referral(client, h, case_id)
    await client.post(f"/cases/{case_id}/close", json={"reason": "services_completed"}, headers=h)
    rows = await pool.fetch(
        'SELECT stream_version, occurred_at FROM "case".event WHERE stream_id = $1'
        " ORDER BY stream_version",
        case_id,
    )
    assert len(rows) >= 5

    def version_at(t):  # type: ignore[no-untyped-def]
        return max((x["stream_version"] for x in rows if x["occurred_at"] <= t), default=0)

    for r in rows:
        before = r["occurred_at"] - timedelta(microseconds=1)
        after = r["occurred_at"]
        rb = await client.get(f"/cases/{case_id}", params={"as_of": before.isoformat()}, headers=h)
        ra = await client.get(f"/cases/{case_id}", params={"as_of": after.isoformat()}, headers=h)
        # Events one command decides share a time, so "after" is after all of them.
        assert ra.status_code == 200 and ra.headers["ETag"] == f'"{version_at(after)}"'
        assert version_at(after) >= r["stream_version"] > version_at(before)
        if version_at(before) == 0:
            assert rb.status_code == 404
        else:
            assert rb.headers["ETag"] == f'"{version_at(before)}"'
    closed_at = rows[-1]["occurred_at"]
    then = await client.get(
        f"/cases/{case_id}",
        params={"as_of": (closed_at - timedelta(microseconds=1)).isoformat()},
        headers=h,
    )
    assert then.json()["status"] == "open"
    assert (await client.get(f"/cases/{case_id}", headers=h)).json()["status"] == "closed"
    bad = await client.get(f"/cases/{case_id}", params={"as_of": "2026-01-01T00:00:00"}, headers=h)
    assert bad.status_code == 422


async def test_erasure_makes_identity_unreadable_and_chains_still_verify(
    client: httpx.AsyncClient,
    auth,
    pool: asyncpg.Pool,  # type: ignore[no-untyped-def]
) -> None:
    h = auth("caseworker", office="khujand")
    case_id = await open_case(client, h)
    before = (await client.get(f"/cases/{case_id}", headers=h)).json()
    assert GIVEN_NAME in json.dumps(before)
    r = await client.post(
        f"/cases/{case_id}/erase", json={"reason_code": "survivor_request"}, headers=h
    )
    assert r.status_code == 403  # admins only
    r = await client.post(
        f"/cases/{case_id}/erase", json={"reason_code": "survivor_request"}, headers=auth("admin")
    )
    assert r.status_code == 200, r.text
    after = (await client.get(f"/cases/{case_id}", headers=h)).json()
    assert GIVEN_NAME not in json.dumps(after)
    assert after["identity_erased"] is True and after["profile"]["identifying"] is None
    hist = (await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))).json()
    assert hist["entries"][-1]["type"].endswith("IdentityErased.v1")
    assert (await verify_chains(pool, "case")).ok
    assert (
        await pool.fetchval('SELECT count(*) FROM "case".case_key WHERE case_id = $1', case_id) == 0
    )
