"""The case plan through the case API: a goal per assessed need, shown in the case view and
its history; bad goals are 422 with field paths and append nothing; a caseworker outside
the case's scope gets 404, a provider 403."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx

from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case

KHUJAND = {"sub": "cw-khujand-plan", "office": "khujand-nrm"}


async def _version(pool: asyncpg.Pool, case_id: str) -> int:
    found = await pool.fetchval(
        'SELECT max(stream_version) FROM "case".event WHERE stream_id = $1', case_id
    )
    return int(found)


async def test_a_goal_shows_in_the_case_view_and_history(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker", **KHUJAND)
    case_id = await open_case(client, h)
    r = await client.post(f"/cases/{case_id}/needs", json={"needs": ["shelter"]}, headers=h)
    assert r.status_code == 200, r.text
    due = (date.today() + timedelta(days=10)).isoformat()
    goal = {
        "need": "shelter",
        "description": "a bed in the Khujand shelter",
        "provider_id": "shelter-khujand",
        "due_on": due,
    }
    r = await client.put(f"/cases/{case_id}/plan/goals/g-1", json=goal, headers=h)
    assert r.status_code == 200, r.text
    r = await client.put(
        f"/cases/{case_id}/plan/goals/g-1", json={**goal, "status": "achieved"}, headers=h
    )
    assert r.status_code == 200, r.text

    view = (await client.get(f"/cases/{case_id}", headers=h)).json()
    [shown] = view["plan"]
    assert (shown["goal_id"], shown["need"], shown["due_on"], shown["status"]) == (
        "g-1",
        "shelter",
        due,
        "achieved",
    )
    assert shown["description"] in (None, "a bed in the Khujand shelter")
    r = await client.put(
        f"/cases/{case_id}/follow-ups/f-1", json={"due_on": due, "note": "call back"}, headers=h
    )
    assert r.status_code == 200, r.text
    [follow_up] = (await client.get(f"/cases/{case_id}", headers=h)).json()["follow_ups"]
    assert (follow_up["follow_up_id"], follow_up["due_on"], follow_up["done"]) == (
        "f-1",
        due,
        False,
    )
    supervisor = auth("supervisor", office="khujand-nrm")
    history = await client.get(f"/cases/{case_id}/history", headers=supervisor)
    assert history.status_code == 200, history.text
    assert history.text.count("CasePlanGoalSet") == 2
    # The wording is sealed: it is nowhere in clear in the store.
    stored = await pool.fetch('SELECT data::text FROM "case".event WHERE stream_id = $1', case_id)
    assert not any("Khujand shelter" in r[0] or "call back" in r[0] for r in stored)


async def test_bad_goals_are_422_with_field_paths_and_append_nothing(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker", **KHUJAND)
    case_id = await open_case(client, h)
    await client.post(f"/cases/{case_id}/needs", json={"needs": ["shelter"]}, headers=h)
    before = await _version(pool, case_id)
    past = (date.today() - timedelta(days=400)).isoformat()
    for body, path in (
        ({"need": "medical"}, "body.need"),
        ({"need": "shelter", "due_on": past}, "body.due_on"),
        ({"need": "shelter", "status": "finished"}, "body.status"),
        ({"need": "not_a_need"}, "body.need"),
    ):
        r = await client.put(f"/cases/{case_id}/plan/goals/g-1", json=body, headers=h)
        assert r.status_code == 422, r.text
        assert path in [e["path"] for e in r.json()["errors"]], r.text
    r = await client.put(f"/cases/{case_id}/follow-ups/f-1", json={"due_on": past}, headers=h)
    assert r.status_code == 422, r.text
    assert [e["path"] for e in r.json()["errors"]] == ["body.due_on"]
    assert await _version(pool, case_id) == before


async def test_out_of_scope_is_404_and_a_provider_403(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker", **KHUJAND)
    case_id = await open_case(client, h)
    await client.post(f"/cases/{case_id}/needs", json={"needs": ["shelter"]}, headers=h)
    before = await _version(pool, case_id)
    url = f"/cases/{case_id}/plan/goals/g-1"
    elsewhere = auth("caseworker", sub="cw-khorog-1", office="khorog-nrm", region="gbao")
    r = await client.put(url, json={"need": "shelter"}, headers=elsewhere)
    assert r.status_code == 404, r.text
    r = await client.put(url, json={"need": "shelter"}, headers=auth("provider"))
    assert r.status_code == 403, r.text
    follow_up = f"/cases/{case_id}/follow-ups/f-1"
    due = {"due_on": date.today().isoformat()}
    assert (await client.put(follow_up, json=due, headers=elsewhere)).status_code == 404
    assert (await client.put(follow_up, json=due, headers=auth("provider"))).status_code == 403
    assert await _version(pool, case_id) == before
