"""Casualty records of persons killed (no survivor case): who records, who reads what,
and links from a relative's case (issue 14). Scope tests first."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case

MIGRATIONS = Path(__file__).parents[2] / "services" / "case" / "migrations"
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


# Listing and correcting (issue 14, remaining gaps): scope first.

KHUJAND_CW = {"sub": "cw-khujand", "office": "khujand-nrm", "region": "sughd"}


async def casualty_events(pool: asyncpg.Pool, cid: str) -> int:
    q = 'SELECT count(*) FROM "case".event WHERE stream_id = $1'
    return int(await pool.fetchval(q, cid))


@pytest.mark.parametrize(
    ("role", "who", "sees"),
    [
        ("caseworker", RECORDER, True),
        ("caseworker", {"sub": "cw-2", **DRS}, True),  # same office
        ("caseworker", KHUJAND_CW, False),
        ("supervisor", {"region": "drs"}, True),
        ("supervisor", {"region": "sughd"}, False),
        ("auditor", {"region": "drs"}, True),
        ("auditor", {"region": "gbao"}, False),
        ("admin", {}, True),
    ],
)
async def test_the_casualty_list_holds_the_callers_scope_and_nothing_identifying(
    client: httpx.AsyncClient, auth: Token, role: str, who: dict[str, Any], sees: bool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    r = await client.get("/casualties", headers=auth(role, **who))
    assert r.status_code == 200, r.text
    assert [i["id"] for i in r.json()["items"]] == ([cid] if sees else [])
    for secret in SECRETS:
        assert secret not in r.text
    if sees:
        [item] = r.json()["items"]
        assert item["incident_district"] == "rasht" and item["region"] == "drs"
        assert item["incident_year"] == 2021 and "caseworker" not in item


@pytest.mark.parametrize("role", ["provider", "coordinator"])
async def test_providers_and_coordinators_cannot_list_or_correct_casualties(
    client: httpx.AsyncClient, auth: Token, role: str
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    assert (await client.get("/casualties", headers=auth(role))).status_code == 403
    r = await client.post(f"/casualties/{cid}/corrections", json=KILLED, headers=auth(role))
    assert r.status_code == 403


async def test_a_correction_outside_the_scope_reads_as_unknown_and_appends_nothing(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    url = f"/casualties/{cid}/corrections"
    for headers in (auth("caseworker", **KHUJAND_CW), auth("supervisor", region="sughd")):
        r = await client.post(url, json={**KILLED, "given_name": "X"}, headers=headers)
        assert r.status_code == 404, r.text
    r = await client.post(url, json=KILLED, headers=auth("auditor"))
    assert r.status_code == 403
    assert await casualty_events(pool, cid) == 1


async def test_a_correction_is_an_event_that_the_record_and_the_list_then_show(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    supervisor = auth("supervisor", sub="sup-drs", region="drs")
    corrected = {**KILLED, "given_name": "Рустами", "incident_district": "garm"}
    corrected.pop("casualty_record_id")  # left out: cleared
    r = await client.post(
        f"/casualties/{cid}/corrections", json=corrected, headers={**supervisor, "If-Match": '"1"'}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"id": cid, "version": 2} and r.headers["ETag"] == '"2"'
    assert "Рустами" not in r.text
    rows = await pool.fetch('SELECT event_type, data FROM "case".event WHERE stream_id = $1', cid)
    assert rows[-1]["event_type"] == "org.safepath.case.CasualtyCorrected.v1"
    assert "Рустами".encode() not in str(rows[-1]["data"]).encode()  # sealed
    view = (await client.get(f"/casualties/{cid}", headers=auth("caseworker", **RECORDER))).json()
    assert view["identifying"]["given_name"] == "Рустами"
    assert view["identifying"]["casualty_record_id"] is None
    assert view["incident_district"] == "garm" and view["region"] == "drs"
    assert view["caseworker"] == RECORDER["sub"]  # who recorded it stays
    [item] = (await client.get("/casualties", headers=supervisor)).json()["items"]
    assert item["incident_district"] == "garm" and item["version"] == 2
    # Stale: 412, nothing appended.
    stale = await client.post(
        f"/casualties/{cid}/corrections", json=KILLED, headers={**supervisor, "If-Match": '"1"'}
    )
    assert stale.status_code == 412
    assert await casualty_events(pool, cid) == 2


async def test_a_correction_cannot_move_the_record_to_another_region(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    r = await client.post(
        f"/casualties/{cid}/corrections",
        json={**KILLED, "incident_district": "khujand"},
        headers=auth("caseworker", **RECORDER),
    )
    assert r.status_code == 422
    assert [e["path"] for e in r.json()["errors"]] == ["body.incident_district"]
    assert "khujand" not in r.text and "Рустам" not in r.text
    bad = await client.post(
        f"/casualties/{cid}/corrections",
        json={**KILLED, "incident_date": "2999-01-01"},
        headers=auth("caseworker", **RECORDER),
    )
    assert bad.status_code == 422
    assert await casualty_events(pool, cid) == 1


async def test_an_erased_casualty_record_takes_no_correction(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cid = await record(client, auth("caseworker", **RECORDER))
    erase = {"reason_code": "survivor_request"}
    assert (
        await client.post(f"/casualties/{cid}/erase", json=erase, headers=auth("admin"))
    ).status_code == 200
    r = await client.post(
        f"/casualties/{cid}/corrections", json=KILLED, headers=auth("caseworker", **RECORDER)
    )
    assert r.status_code == 409
    [item] = (await client.get("/casualties", headers=auth("admin"))).json()["items"]
    assert item["identity_erased"] is True
    assert await casualty_events(pool, cid) == 2


async def test_the_casualty_list_pages_with_a_cursor(
    client: httpx.AsyncClient, auth: Token
) -> None:
    made = [await record(client, auth("caseworker", **RECORDER)) for _ in range(3)]
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get("/casualties", params=params, headers=auth("admin"))).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(made, reverse=True)
    r = await client.get("/casualties", params={"cursor": "%%%"}, headers=auth("admin"))
    assert r.status_code == 422 and [e["path"] for e in r.json()["errors"]] == ["query.cursor"]


async def test_casualty_lists_and_corrections_log_nothing_identifying(
    client: httpx.AsyncClient, auth: Token
) -> None:
    root = logging.getLogger()
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(root.handlers[0].formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        cid = await record(client, auth("caseworker", **RECORDER))
        url = f"/casualties/{cid}/corrections"
        fixed = {**KILLED, "family_name": "Назарзода"}
        done = await client.post(url, json=fixed, headers=auth("caseworker", **RECORDER))
        assert done.status_code == 200
        bad = {**KILLED, "incident_district": "khujand"}
        await client.post(url, json=bad, headers=auth("caseworker", **RECORDER))
        await client.get("/casualties", headers=auth("admin"))
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = sink.getvalue()
    assert '"route": "/casualties/{casualty_id}/corrections"' in text  # it did capture
    for secret in (*SECRETS, "Назарзода"):
        assert secret not in text


async def test_the_migration_fills_the_list_from_records_already_stored(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    kept = await record(client, auth("caseworker", **RECORDER))
    erased = await record(client, auth("caseworker", **RECORDER))
    erase = {"reason_code": "survivor_request"}
    r = await client.post(f"/casualties/{erased}/erase", json=erase, headers=auth("admin"))
    assert r.status_code == 200
    listed = (await client.get("/casualties", headers=auth("admin"))).json()["items"]
    # An installation from before the list: the table is created and filled by 0009.
    sql = (MIGRATIONS / "0009_casualty_summary.sql").read_text().format(schema='"case"')
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute('DROP TABLE "case".casualty_summary')
        await conn.execute(sql)
    again = (await client.get("/casualties", headers=auth("admin"))).json()["items"]
    assert again == listed and [i["id"] for i in again] == sorted([kept, erased], reverse=True)
    assert [i["identity_erased"] for i in again] == [i["id"] == erased for i in again]
