"""The recovery and reflection period against the real case service: it starts with a
presumption, shows the days left, is extended with a reason, reminds before it ends
(once per reminder, across restarts of the timer), and guards a not_identified decision."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from fastapi import FastAPI

from services.case.app.reflection import chase_reflection_periods
from services.case.projections import PROJECTIONS
from shared.eventstore import EventStore
from shared.projections import rebuild
from shared.pseudonym import case_reference
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case

PRESUMED = {"status": "presumed", "basis": "indicators_present", "deciding_agency": "ngo"}
NOT_IDENTIFIED = {
    "status": "not_identified",
    "basis": "conclusive_decision",
    "deciding_agency": "imcctip",
}


async def _reflection(client: httpx.AsyncClient, case_id: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    r = await client.get(f"/cases/{case_id}", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["reflection_period"]  # type: ignore[no-any-return]


async def _events(pool: asyncpg.Pool, case_id: str) -> list[str]:
    rows = await pool.fetch(
        'SELECT event_type FROM "case".event WHERE stream_id = $1 ORDER BY stream_version',
        case_id,
    )
    return [r["event_type"].split(".")[3] for r in rows]


async def test_a_presumption_starts_the_period_and_an_extension_moves_its_end(
    client: httpx.AsyncClient, auth: Token
) -> None:
    cw = auth("caseworker")
    case_id = await open_case(client, cw)
    assert (await _reflection(client, case_id, cw)) is None

    assert (
        await client.post(f"/cases/{case_id}/identification", json=PRESUMED, headers=cw)
    ).status_code == 200
    period = await _reflection(client, case_id, cw)
    assert (period["running"], period["days_left"]) == (True, 30)
    started = datetime.fromisoformat(period["started_at"])
    assert datetime.fromisoformat(period["ends_at"]) - started == timedelta(days=30)

    r = await client.post(
        f"/cases/{case_id}/reflection-period/extend",
        json={"days": 14, "reason_code": "medical_treatment"},
        headers=cw,
    )
    assert r.status_code == 200, r.text
    assert (await _reflection(client, case_id, cw))["days_left"] == 44
    # A free-text reason or a nonsense length is refused, nothing recorded.
    for bad in ({"days": 0, "reason_code": "other"}, {"days": 5, "reason_code": "she said so"}):
        r = await client.post(f"/cases/{case_id}/reflection-period/extend", json=bad, headers=cw)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert (await _reflection(client, case_id, cw))["days_left"] == 44
    # Outside the case's scope it does not exist.
    other = auth("caseworker", sub="cw-elsewhere", office="khorog", region="gbao")
    r = await client.post(
        f"/cases/{case_id}/reflection-period/extend",
        json={"days": 5, "reason_code": "other"},
        headers=other,
    )
    assert r.status_code == 404
    for role in ("auditor", "provider", "coordinator"):
        r = await client.post(
            f"/cases/{case_id}/reflection-period/extend",
            json={"days": 5, "reason_code": "other"},
            headers=auth(role),
        )
        assert r.status_code == 403, role


async def test_not_identified_during_the_period_needs_a_supervisor_and_a_reason(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cw, sv = auth("caseworker"), auth("supervisor")
    case_id = await open_case(client, cw)
    await client.post(f"/cases/{case_id}/identification", json=PRESUMED, headers=cw)
    path = f"/cases/{case_id}/identification"

    r = await client.post(path, json={**NOT_IDENTIFIED, "reason_code": "other"}, headers=cw)
    assert r.status_code == 409 and r.json()["type"].endswith("reason_and_supervisor_required")
    r = await client.post(path, json=NOT_IDENTIFIED, headers=sv)
    assert r.status_code == 409
    assert "IdentificationRecorded" not in (await _events(pool, case_id))[-1:]

    r = await client.post(
        path, json={**NOT_IDENTIFIED, "reason_code": "indicators_not_confirmed"}, headers=sv
    )
    assert r.status_code == 200, r.text
    period = await _reflection(client, case_id, cw)
    assert (period["running"], period["outcome"]) == (False, "not_identified")
    ended = await pool.fetchval(
        """SELECT data::text FROM "case".event WHERE stream_id = $1
           AND event_type LIKE '%ReflectionPeriodEnded%'""",
        case_id,
    )
    assert '"decided_by": "supervisor-1"' in ended and "indicators_not_confirmed" in ended


async def test_the_timer_reminds_once_per_setting_across_passes_and_ends_the_period(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker")
    case_id = await open_case(client, cw)
    await client.post(f"/cases/{case_id}/identification", json=PRESUMED, headers=cw)
    ends_at = datetime.fromisoformat((await _reflection(client, case_id, cw))["ends_at"])
    store = app.state.runtime.store

    async def tick(at: datetime) -> int:  # a pass, as a freshly started timer would run it
        return await chase_reflection_periods(pool, store, at.astimezone(UTC), (7, 1))

    assert await tick(ends_at - timedelta(days=8)) == 0
    assert await tick(ends_at - timedelta(days=6)) == 1  # seven days before
    assert await tick(ends_at - timedelta(days=6)) == 0  # the same pass again: nothing
    assert await tick(ends_at - timedelta(hours=12)) == 1  # one day before
    assert await tick(ends_at + timedelta(minutes=1)) == 1  # the end
    assert await tick(ends_at + timedelta(days=2)) == 0

    names = await _events(pool, case_id)
    assert names[-3:] == [
        "ReflectionPeriodReminderDue",
        "ReflectionPeriodReminderDue",
        "ReflectionPeriodEnded",
    ]
    history = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
    assert history.status_code == 200
    assert "ReflectionPeriodReminderDue" in history.text
    period = await _reflection(client, case_id, cw)
    assert (period["running"], period["outcome"], period["days_left"]) == (False, "elapsed", 0)
    # The statistics count the end the timer decided, live (as a rebuild would).
    ended = await pool.fetch(
        'SELECT detail FROM "case".stat_fact WHERE case_id = $1 AND kind = $2',
        case_id,
        "reflection_ended",
    )
    assert [r["detail"] for r in ended] == ["elapsed"]


async def test_a_caseworker_finds_the_case_a_reminder_names_by_its_reference(
    client: httpx.AsyncClient, auth: Token, settings: Settings
) -> None:
    cw = auth("caseworker")
    case_id = await open_case(client, cw)
    reference = case_reference(settings.case_reference_key.encode(), case_id)

    found = await client.get(f"/cases/by-reference/{reference}", headers=cw)
    assert found.status_code == 200 and found.json()["id"] == case_id
    # Another office's caseworker, or a made-up reference: 404, alike.
    other = auth("caseworker", sub="cw-elsewhere", office="khorog", region="gbao")
    assert (await client.get(f"/cases/by-reference/{reference}", headers=other)).status_code == 404
    made_up = "SP-AAAA-BBBB-CCCC-DDDD"
    assert (await client.get(f"/cases/by-reference/{made_up}", headers=cw)).status_code == 404
    assert (await client.get("/cases/by-reference/not-a-ref", headers=cw)).status_code == 422
    assert (
        await client.get(f"/cases/by-reference/{reference}", headers=auth("provider"))
    ).status_code == 403


async def test_safepath_replay_rebuilds_the_periods_the_timer_chases(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker")
    extended, plain = await open_case(client, cw), await open_case(client, cw)
    await open_case(client, cw)  # never presumed: no period
    for case_id in (extended, plain):
        r = await client.post(f"/cases/{case_id}/identification", json=PRESUMED, headers=cw)
        assert r.status_code == 200, r.text
    r = await client.post(
        f"/cases/{extended}/reflection-period/extend",
        json={"days": 14, "reason_code": "medical_treatment"},
        headers=cw,
    )
    assert r.status_code == 200, r.text
    query = 'SELECT * FROM "case".reflection_period ORDER BY case_id'
    live = [dict(r) for r in await pool.fetch(query)]
    assert len(live) == 2

    await rebuild(EventStore(pool, "case"), PROJECTIONS["reflection_period"], fresh=True)

    assert [dict(r) for r in await pool.fetch(query)] == live


async def test_periods_waiting_for_their_next_reminder_do_not_crowd_out_a_due_one(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker")
    soon, later = await open_case(client, cw), await open_case(client, cw)
    for case_id in (soon, later):
        r = await client.post(f"/cases/{case_id}/identification", json=PRESUMED, headers=cw)
        assert r.status_code == 200, r.text
    r = await client.post(
        f"/cases/{later}/reflection-period/extend",
        json={"days": 5, "reason_code": "medical_treatment"},
        headers=cw,
    )
    assert r.status_code == 200, r.text
    ends_at = datetime.fromisoformat((await _reflection(client, soon, cw))["ends_at"])
    store = app.state.runtime.store

    async def tick(at: datetime, limit: int = 200) -> int:
        return await chase_reflection_periods(pool, store, at.astimezone(UTC), (7, 1), limit)

    assert await tick(ends_at - timedelta(days=6)) == 1  # ``soon``, seven days before
    # ``soon`` now waits for its last day while ``later`` (five days on) is seven days from
    # its end: a batch of one case takes ``later``, though ``soon`` ends first.
    assert await tick(ends_at - timedelta(days=1, hours=12), limit=1) == 1
    assert (await _events(pool, later))[-1] == "ReflectionPeriodReminderDue"
