"""The person across cases through the API: one referral per need across linked cases,
and assistive devices over time."""

from __future__ import annotations

import asyncpg
import httpx

from tests.integration.case.conftest import Token
from tests.integration.case.stories import give_referral_consent, intake, open_case


async def linked_pair(client: httpx.AsyncClient, auth: Token) -> tuple[str, str]:
    a = await open_case(client, auth())
    b = await open_case(client, auth(), intake(given_name="Zarinah"))
    r = await client.post(
        "/duplicates/link", json={"case_a": a, "case_b": b}, headers=auth("supervisor")
    )
    assert r.status_code == 200, r.text
    for case_id in (a, b):
        await give_referral_consent(client, auth(), case_id)
    return a, b


async def refer(
    client: httpx.AsyncClient, auth: Token, case_id: str, needs: list[str], urgency: str = "urgent"
) -> httpx.Response:
    body = {"needs": needs, "urgency": urgency}
    return await client.post(f"/cases/{case_id}/referrals", json=body, headers=auth())


async def test_a_need_is_referred_once_across_cases_linked_as_one_person(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    a, b = await linked_pair(client, auth)
    assert (await refer(client, auth, a, ["shelter"])).status_code == 202
    before = await pool.fetchval('SELECT count(*) FROM "case".event WHERE stream_id = $1', b)

    twice = await refer(client, auth, b, ["shelter", "legal_aid"])
    assert twice.status_code == 409
    assert twice.json()["type"].endswith("referral_on_linked_case") and a in twice.text
    after = await pool.fetchval('SELECT count(*) FROM "case".event WHERE stream_id = $1', b)
    assert after == before  # nothing appended

    assert (await refer(client, auth, b, ["legal_aid"])).status_code == 202
    assert (await refer(client, auth, b, ["shelter"], "emergency")).status_code == 202
    # Unlinked, the cases are two people again.
    r = await client.post(
        "/duplicates/unlink", json={"case_a": a, "case_b": b}, headers=auth("supervisor")
    )
    assert r.status_code == 200
    assert (await refer(client, auth, b, ["shelter"])).status_code == 202


async def test_assistive_devices_are_recorded_over_time(
    client: httpx.AsyncClient, auth: Token
) -> None:
    case_id = await open_case(client, auth(), intake(categories=["mine_eo"]))
    url = f"/cases/{case_id}/assistive-devices"
    fitted = await client.post(
        url,
        json={"device": "lower_limb_prosthesis", "action": "fitted", "on": "2023-02-01"},
        headers=auth(),
    )
    assert fitted.status_code == 200, fitted.text
    device_id = fitted.json()["device_id"]
    repair = {"device_id": device_id, "device": "lower_limb_prosthesis", "on": "2024-06-10"}
    assert (
        await client.post(url, json={**repair, "action": "repaired"}, headers=auth())
    ).status_code == 200
    assert (
        await client.post(url, json={**repair, "action": "replaced"}, headers=auth())
    ).status_code == 200
    never = {**repair, "device_id": "no-such-device", "action": "repaired"}
    assert (await client.post(url, json=never, headers=auth())).status_code == 409
    view = (await client.get(f"/cases/{case_id}", headers=auth("auditor"))).json()
    assert [d["action"] for d in view["assistive_devices"]] == ["fitted", "repaired", "replaced"]


async def test_invalid_device_records_are_422_with_the_field_path(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(client, auth())
    before = await pool.fetchval('SELECT count(*) FROM "case".event')
    url = f"/cases/{case_id}/assistive-devices"
    cases = [
        ({"device": "jetpack", "action": "fitted", "on": "2023-02-01"}, "body.device"),
        ({"device": "orthosis", "action": "sold", "on": "2023-02-01"}, "body.action"),
        ({"device": "orthosis", "action": "fitted", "on": "2999-01-01"}, "body.on"),
        ({"device": "orthosis", "action": "fitted", "on": "1899-01-01"}, "body.on"),
        ({"device": "orthosis", "action": "repaired", "on": "2023-02-01"}, "body"),
    ]
    for body, path in cases:
        r = await client.post(url, json=body, headers=auth())
        assert r.status_code == 422, r.text
        assert path in [e["path"] for e in r.json()["errors"]]
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == before
