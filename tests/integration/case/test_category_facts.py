"""Category facts: clear facts in the view and the events, the dates that identify sealed;
every new field validated (422 with the field path, nothing appended)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case

TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

TRAFFICKING = {
    "exploitation_forms": ["forced_labour", "domestic_servitude"],
    "scope": "cross_border",
    "exploitation_country": "RU",
    "recruitment_channel": "job_offer",
    "period_start": "2019-03-14",
    "period_end": "2020-01-20",
}
MINE = {
    "victim": "direct",
    "incident_date": "2021-05-09",
    "incident_district": "shugnon",
    "device_type": "anti_personnel_mine",
    "activity": "herding",
    "injuries": [{"kind": "amputation", "amputation_level": "lower_limb_below_knee"}],
    "casualty_record_id": "TNMAC-2021-0173",
}
REFUGEE = {
    "country_of_origin": "AF",
    "arrival_date": "2022-08-30",
    "procedure_stage": "interviewed",
    "documents_held": ["asylum_seeker_certificate"],
    "detention_or_deportation_risk": True,
}
ALL = ["trafficking", "mine_eo", "refugee_asylum"]


def with_facts(**facts: Any) -> dict[str, Any]:
    cats = [c for c in ALL if c in facts] or ["trafficking"]
    return intake(categories=cats, **facts)


async def event_data(pool: asyncpg.Pool, case_id: str) -> str:
    rows = await pool.fetch('SELECT data FROM "case".event WHERE stream_id = $1', case_id)
    return " ".join(str(r["data"]) for r in rows)


async def test_the_facts_of_each_category_are_recorded_clear_and_sealed_as_documented(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    body = with_facts(trafficking=TRAFFICKING, mine_eo=MINE, refugee_asylum=REFUGEE)
    case_id = await open_case(client, auth(), body)
    view = (await client.get(f"/cases/{case_id}", headers=auth())).json()["profile"]

    assert view["trafficking"]["exploitation_forms"] == ["forced_labour", "domestic_servitude"]
    assert view["trafficking"]["exploitation_start_year"] == 2019
    assert view["trafficking"]["exploitation_months"] == 10
    assert view["mine_eo"]["incident_year"] == 2021
    assert view["mine_eo"]["injuries"][0]["amputation_level"] == "lower_limb_below_knee"
    assert view["refugee_asylum"]["arrival_year"] == 2022
    assert view["refugee_asylum"]["detention_or_deportation_risk"] is True
    # The dates and the national record id come back only among the identifying fields.
    ident = view["identifying"]
    assert ident["incident_date"] == "2021-05-09"
    assert ident["casualty_record_id"] == "TNMAC-2021-0173"
    assert ident["exploitation_started_on"] == "2019-03-14"
    assert ident["arrival_date"] == "2022-08-30"
    stored = await event_data(pool, case_id)
    for secret in ("2021-05-09", "TNMAC-2021-0173", "2019-03-14", "2020-01-20", "2022-08-30"):
        assert secret not in stored
    assert '"shugnon"' in stored and '"forced_labour"' in stored  # statistical, in clear

    auditor = (await client.get(f"/cases/{case_id}", headers=auth("auditor"))).json()
    assert auditor["profile"]["mine_eo"]["incident_year"] == 2021
    assert auditor["profile"]["identifying"] is None


async def test_an_unchanged_profile_with_facts_records_nothing_new(
    client: httpx.AsyncClient, auth: Token
) -> None:
    body = with_facts(mine_eo=MINE)
    case_id = await open_case(client, auth(), body)
    r = await client.put(f"/cases/{case_id}/profile", json=body["profile"], headers=auth())
    assert r.status_code == 200 and r.json()["version"] == 2


def bad(category: str, **change: Any) -> dict[str, Any]:
    base = {"trafficking": TRAFFICKING, "mine_eo": MINE, "refugee_asylum": REFUGEE}[category]
    return with_facts(**{category: {**base, **change}})


INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("unknown form", bad("trafficking", exploitation_forms=["smuggling"]),
     "body.profile.trafficking.exploitation_forms.0"),
    ("repeated form", bad("trafficking", exploitation_forms=["sexual", "sexual"]),
     "body.profile.trafficking"),
    ("unknown scope", bad("trafficking", scope="abroad"), "body.profile.trafficking.scope"),
    ("bad country", bad("trafficking", exploitation_country="Russia"),
     "body.profile.trafficking.exploitation_country"),
    ("future period", bad("trafficking", period_start=TOMORROW, period_end=None),
     "body.profile.trafficking.period_start"),
    ("period before 1900", bad("trafficking", period_start="1899-12-31"),
     "body.profile.trafficking.period_start"),
    ("period backwards", bad("trafficking", period_end="2018-01-01"), "body.profile.trafficking"),
    ("unknown device", bad("mine_eo", device_type="landmine"), "body.profile.mine_eo.device_type"),
    ("future incident", bad("mine_eo", incident_date=TOMORROW),
     "body.profile.mine_eo.incident_date"),
    ("incident before 1900", bad("mine_eo", incident_date="1850-01-01"),
     "body.profile.mine_eo.incident_date"),
    ("unknown district", bad("mine_eo", incident_district="atlantis"),
     "body.profile.mine_eo.incident_district"),
    ("amputation without level", bad("mine_eo", injuries=[{"kind": "amputation"}]),
     "body.profile.mine_eo.injuries.0"),
    ("unknown injury", bad("mine_eo", injuries=[{"kind": "bruise"}]),
     "body.profile.mine_eo.injuries.0.kind"),
    ("killed direct victim", bad("mine_eo", outcome="killed"), "body.profile.mine_eo"),
    ("unknown activity", bad("mine_eo", activity="picnic"), "body.profile.mine_eo.activity"),
    ("unknown stage", bad("refugee_asylum", procedure_stage="waiting"),
     "body.profile.refugee_asylum.procedure_stage"),
    ("future arrival", bad("refugee_asylum", arrival_date=TOMORROW),
     "body.profile.refugee_asylum.arrival_date"),
    ("unknown document", bad("refugee_asylum", documents_held=["visa"]),
     "body.profile.refugee_asylum.documents_held.0"),
    ("risk not a flag", bad("refugee_asylum", detention_or_deportation_risk="maybe"),
     "body.profile.refugee_asylum.detention_or_deportation_risk"),
    ("facts of another category", intake(mine_eo=MINE), "body.profile"),
    ("unknown fact", bad("mine_eo", blast_radius=3), "body.profile.mine_eo.blast_radius"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "path"), [(b, p) for _, b, p in INVALID], ids=[n for n, _, _ in INVALID]
)
async def test_invalid_facts_are_refused_with_the_field_path_and_nothing_is_appended(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool, body: dict[str, Any], path: str
) -> None:
    r = await client.post("/cases", json=body, headers=auth())
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert path in [e["path"] for e in r.json()["errors"]], r.json()["errors"]
    assert TOMORROW not in r.text and "TNMAC" not in r.text
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == 0
    assert await pool.fetchval('SELECT count(*) FROM "case".person_key') == 0


async def test_invalid_facts_on_a_profile_update_change_nothing(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(client, auth())
    before = await pool.fetchval('SELECT count(*) FROM "case".event')
    r = await client.put(
        f"/cases/{case_id}/profile",
        json=bad("mine_eo", incident_date=TOMORROW)["profile"],
        headers=auth(),
    )
    assert r.status_code == 422
    assert "body.mine_eo.incident_date" in [e["path"] for e in r.json()["errors"]]
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == before
