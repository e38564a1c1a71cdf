"""Identifying data stays sealed: on the bus, in logs; and every identifying read is
recorded in the case's access trail."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.case.domain.commands import EraseIdentity
from shared.auth import Principal
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import (
    GIVEN_NAME,
    SECRETS,
    give_referral_consent,
    intake,
    open_case,
)

NOTE = "Lives with an aunt near the bazaar in Khujand"
REASON = "Trafficker knows the address"


async def published(js: JetStreamContext, stream: str, count: int) -> list[dict[str, Any]]:
    """The first ``count`` messages of ``stream``, waiting for the relay to publish them."""
    for _ in range(200):
        info = await js.stream_info(stream)
        if info.state.messages >= count:
            break
        await asyncio.sleep(0.05)
    msgs = [await js.get_msg(stream, seq=n) for n in range(1, count + 1)]
    return [{**json.loads(m.data), "nats_subject": m.subject} for m in msgs]


async def full_flow(client: httpx.AsyncClient, h: dict[str, str]) -> str:
    case_id = await open_case(client, h)
    base = f"/cases/{case_id}"
    await client.post(f"{base}/needs", json={"needs": ["shelter"], "note": NOTE}, headers=h)
    await give_referral_consent(client, h, case_id)
    r = await client.post(
        f"{base}/referrals",
        json={
            "needs": ["shelter"],
            "urgency": "emergency",
            "emergency_reason": REASON,
            "note": NOTE,
        },
        headers=h,
    )
    assert r.status_code == 202
    await client.post(f"{base}/notes", json={"text": NOTE}, headers=h)
    assert (await client.get(base, headers=h)).status_code == 200
    await client.get("/cases", headers=h)
    bad = await client.post("/cases", json=intake(date_of_birth="2999-01-01"), headers=h)
    assert bad.status_code == 422
    return case_id


async def test_the_bus_carries_ciphertext_and_routing_facts(
    client: httpx.AsyncClient, auth: Token, js: JetStreamContext, settings: Settings
) -> None:
    case_id = await full_flow(client, auth())
    events = await published(js, settings.stream_name("case"), 6)
    names = [e["nats_subject"].rsplit(".", 1)[1] for e in events]
    assert names == [
        "CaseOpened",
        "SurvivorProfileRecorded",
        "NeedsAssessed",
        "ConsentGiven",
        "ReferralRequested",
        "CaseNoteAdded",
    ]
    prefix = f"{settings.namespace}.case.{case_id}."
    assert all(e["nats_subject"].startswith(prefix) for e in events)
    everything = json.dumps(events)
    for secret in (*SECRETS, NOTE, REASON):
        assert secret not in everything
    profile = events[1]["data"]["profile"]
    assert set(profile["identifying"]) == {"alg", "kid", "nonce", "ct"}
    assert profile["age_band"] == "25-39"
    referral = events[4]["data"]
    assert {k: referral[k] for k in ("needs", "urgency", "region", "district", "sex")} == {
        "needs": ["shelter"],
        "urgency": "emergency",
        "region": "sughd",
        "district": "khujand",
        "sex": "female",
    }
    assert referral["consent"]["data_categories"] == ["needs", "demographics"]
    assert set(referral["note"]) == {"alg", "kid", "nonce", "ct"}


async def test_no_log_line_holds_an_identifying_value(
    client: httpx.AsyncClient, auth: Token, js: JetStreamContext, settings: Settings
) -> None:
    root = logging.getLogger()
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(root.handlers[0].formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        await full_flow(client, auth())
        await published(js, settings.stream_name("case"), 6)  # the relay's work is logged too
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = sink.getvalue()
    assert '"route": "/cases/{case_id}/referrals"' in text  # the capture did capture
    for secret in (*SECRETS, NOTE, REASON, "2999-01-01"):
        assert secret not in text


async def access_records(pool: asyncpg.Pool, case_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        'SELECT data::text FROM "case".event WHERE stream_id = $1 ORDER BY stream_version',
        f"access-{case_id}",
    )
    return [json.loads(r[0]) for r in rows]


async def test_identifying_reads_are_recorded_and_list_reads_are_not(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth(sub="cw-dilnoza")
    case_id = await open_case(client, h)
    await client.post(f"/cases/{case_id}/notes", json={"text": NOTE}, headers=h)
    await client.get("/cases", headers=h)
    assert await access_records(pool, case_id) == []

    first = await client.get(f"/cases/{case_id}", headers=h)
    second = await client.get(f"/cases/{case_id}", headers=auth("supervisor", sub="sup-1"))
    assert first.json()["profile"]["identifying"]["given_name"] == GIVEN_NAME
    assert first.headers["ETag"] == second.headers["ETag"] == '"3"'  # reads change no version
    records = await access_records(pool, case_id)
    assert [(r["who"], r["role"], r["endpoint"]) for r in records] == [
        ("cw-dilnoza", "caseworker", "GET /cases/{case_id}"),
        ("sup-1", "supervisor", "GET /cases/{case_id}"),
    ]
    assert {"profile.given_name", "profile.date_of_birth", "notes.text"} <= set(
        records[0]["fields"]
    )


async def test_auditors_and_admins_read_without_identifying_fields(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    await client.post(f"/cases/{case_id}/notes", json={"text": NOTE}, headers=h)
    for role in ("auditor", "admin"):
        r = await client.get(f"/cases/{case_id}", headers=auth(role))
        view = r.json()
        assert view["identifying_fields_visible"] is False
        assert view["profile"]["identifying"] is None and view["profile"]["age_band"] == "25-39"
        assert view["notes"][0]["text"] is None
        assert not any(s in r.text for s in (*SECRETS, NOTE))
    assert await access_records(pool, case_id) == []


async def test_after_erasure_the_case_shows_no_identity(
    client: httpx.AsyncClient, auth: Token, app: FastAPI
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    writes = app.state.service.writes
    admin = Principal(sub="admin-1", role="admin")
    async with app.state.runtime.pool.acquire() as conn, conn.transaction():
        await writes.change(
            conn,
            admin,
            case_id,
            lambda case, key, now: EraseIdentity(
                erased_by="admin-1", reason_code="survivor_request"
            ),
            expected_version=None,
            correlation_id="test",
        )
        assert await writes.keys.erase(case_id, conn)
    r = await client.get(f"/cases/{case_id}", headers=h)
    view = r.json()
    assert view["identity_erased"] is True and view["profile"]["identifying"] is None
    assert GIVEN_NAME not in r.text
    refused = await client.post(f"/cases/{case_id}/notes", json={"text": "x"}, headers=h)
    assert refused.status_code == 409 and refused.json()["type"].endswith("/identity_erased")
