"""Casualty records of persons killed (no survivor case): who records, who reads what,
and links from a relative's case (issue 14). Scope tests first."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case

KILLED = {
    "given_name": "Рустам",
    "family_name": "Назаров",
    "date_of_birth": "2009-02-14",
    "sex": "male",
    "incident_date": "2021-05-09",
    "incident_district": "rasht",
    "device_type": "unexploded_ordnance",
    "activity": "herding",
    "casualty_record_id": "TNMAC-2021-0099",
}
SECRETS = ("Рустам", "Назаров", "2009-02-14", "2021-05-09", "TNMAC-2021-0099")
DRS = {"office": "garm-rcst", "region": "drs"}
RECORDER = {"sub": "cw-garm-recorder", **DRS}


async def record(client: httpx.AsyncClient, headers: dict[str, str], **change: Any) -> str:
    r = await client.post("/casualties", json={**KILLED, **change}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_a_casualty_record_is_sealed_and_its_clear_facts_are_statistics(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    assert cid.startswith("casualty-")
    rows = await pool.fetch('SELECT data FROM "case".event WHERE stream_id = $1', cid)
    stored = " ".join(str(r["data"]) for r in rows)
    assert not any(s in stored for s in SECRETS)
    view = (await client.get(f"/casualties/{cid}", headers=auth("auditor"))).json()
    assert view["age_band"] == "12-17"  # at the incident, not today
    assert view["incident_year"] == 2021 and view["region"] == "drs"
    assert view["identifying"] is None and not any(s in str(view) for s in SECRETS)

    colleague = await client.get(
        f"/casualties/{cid}", headers=auth("caseworker", sub="cw-2", **DRS)
    )
    assert colleague.json()["identifying"]["casualty_record_id"] == "TNMAC-2021-0099"
    log = await pool.fetch('SELECT data FROM "case".event WHERE stream_id = $1', f"access-{cid}")
    assert len(log) == 1 and "casualty.given_name" in str(log[0]["data"])


@pytest.mark.parametrize(
    "who",
    [
        {"role": "caseworker", "office": "khujand-nrm", "region": "sughd"},
        {"role": "supervisor", "region": "sughd"},
        {"role": "auditor", "region": "gbao"},
    ],
)
async def test_a_casualty_record_outside_the_scope_reads_as_unknown(
    client: httpx.AsyncClient, auth: Token, who: dict[str, Any]
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    role = who.pop("role")
    r = await client.get(f"/casualties/{cid}", headers=auth(role, **who))
    unknown = await client.get(
        "/casualties/casualty-0190a0c4-0000-7000-8000-00000000abcd", headers=auth(role, **who)
    )
    assert r.status_code == unknown.status_code == 404
    assert r.json()["detail"] == unknown.json()["detail"]


async def test_providers_cannot_record_or_read_casualties(
    client: httpx.AsyncClient, auth: Token
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    assert (await client.get(f"/casualties/{cid}", headers=auth("provider"))).status_code == 403
    r = await client.post("/casualties", json=KILLED, headers=auth("provider"))
    assert r.status_code == 403
    r = await client.post("/casualties", json=KILLED, headers=auth("auditor"))
    assert r.status_code == 403


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"incident_district": "atlantis"}, "body.incident_district"),
        ({"incident_date": "2999-01-01"}, "body.incident_date"),
        ({"date_of_birth": "1899-01-01"}, "body.date_of_birth"),
        ({"device_type": "landmine"}, "body.device_type"),
        ({"sex": "woman"}, "body.sex"),
    ],
)
async def test_invalid_casualty_records_are_422_and_nothing_is_appended(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool, change: dict[str, Any], path: str
) -> None:
    r = await client.post(
        "/casualties", json={**KILLED, **change}, headers=auth("caseworker", **DRS)
    )
    assert r.status_code == 422
    assert path in [e["path"] for e in r.json()["errors"]]
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == 0


async def test_a_relatives_case_links_to_the_casualty_within_scope_only(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    mother = auth("caseworker", sub="cw-garm", **DRS)
    body = intake(region="drs", district="garm", categories=["mine_eo"],
                  mine_eo={"victim": "indirect", "outcome": "killed"})  # fmt: skip
    case_id = await open_case(client, mother, body)
    link = {"casualty_id": cid, "relation": "child"}
    ok = await client.post(f"/cases/{case_id}/casualty-links", json=link, headers=mother)
    assert ok.status_code == 200, ok.text
    view = (await client.get(f"/cases/{case_id}", headers=mother)).json()
    assert {"case_id": cid, "relation": "child"} in view["family_links"]
    twice = await client.post(f"/cases/{case_id}/casualty-links", json=link, headers=mother)
    assert twice.status_code == 409

    # A caseworker elsewhere cannot link their case to a record they cannot see.
    elsewhere = auth("caseworker", sub="cw-khujand", office="khujand-nrm", region="sughd")
    theirs = await open_case(client, elsewhere)
    before = await pool.fetchval('SELECT count(*) FROM "case".event')
    r = await client.post(f"/cases/{theirs}/casualty-links", json=link, headers=elsewhere)
    assert r.status_code == 404
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == before


async def test_only_an_admin_erases_a_casualty_record_and_then_it_reads_erased(
    client: httpx.AsyncClient, auth: Token
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    url = f"/casualties/{cid}/erase"
    body = {"reason_code": "survivor_request"}
    assert (await client.post(url, json=body, headers=auth("caseworker", **DRS))).status_code == 403
    assert (await client.post(url, json=body, headers=auth("admin"))).status_code == 200
    assert (await client.post(url, json=body, headers=auth("admin"))).status_code == 409
    view = (await client.get(f"/casualties/{cid}", headers=auth("caseworker", **RECORDER))).json()
    assert view["identity_erased"] is True and view["identifying"] is None
    assert view["incident_year"] == 2021  # the statistics stay
