"""Reminders of the plan's dates against the real case service and its store: the
due-date timer decides each reminder once (across passes, a restarted timer and two
instances at once), none for a goal achieved or a follow-up done or a closed case, and
``safepath replay`` rebuilds the table it reads. (That a reminder reaches the caseworker
through notify, once and in their language: tests/integration/notify/test_case_reminder.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, time, timedelta

import asyncpg
import httpx
from fastapi import FastAPI

from services.case.app.due_dates import chase_due_dates
from services.case.bootstrap import bootstrap
from services.case.config import CaseSettings
from services.case.projections import PROJECTIONS
from shared.eventstore import EventStore
from shared.projections import rebuild
from shared.settings import Settings
from tests.integration.case.conftest import Token, stop_background_tasks
from tests.integration.case.stories import open_case

SETTINGS = (3, 0)
QUERY = 'SELECT * FROM "case".due_date WHERE case_id = $1 ORDER BY kind, item_id'


async def _reminders(pool: asyncpg.Pool, case_id: str) -> list[tuple[str, str, int]]:
    rows = await pool.fetch(
        """SELECT data FROM "case".event WHERE stream_id = $1
           AND event_type LIKE '%.DueDateReminderDue.%' ORDER BY stream_version""",
        case_id,
    )
    found = [json.loads(r["data"]) if isinstance(r["data"], str) else r["data"] for r in rows]
    return [(d["kind"], d["item_id"], d["days_before"]) for d in found]


async def _planned(client: httpx.AsyncClient, h: dict[str, str], due: str) -> str:
    case_id = await open_case(client, h)
    r = await client.post(f"/cases/{case_id}/needs", json={"needs": ["medical"]}, headers=h)
    assert r.status_code == 200, r.text
    goal = {"need": "medical", "description": "prosthesis fitted", "due_on": due}
    r = await client.put(f"/cases/{case_id}/plan/goals/g-1", json=goal, headers=h)
    assert r.status_code == 200, r.text
    r = await client.put(f"/cases/{case_id}/follow-ups/f-1", json={"due_on": due}, headers=h)
    assert r.status_code == 200, r.text
    return case_id


async def test_each_date_is_reminded_once_per_setting_and_not_once_closed(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker")
    today = datetime.now(UTC).date()
    due = today + timedelta(days=4)
    case_id = await _planned(client, h, due.isoformat())
    store = app.state.runtime.store

    async def tick(days_before: int) -> int:  # a pass, as a freshly started timer runs it
        at = datetime.combine(due - timedelta(days=days_before), time(9), UTC)
        return await chase_due_dates(pool, store, at, SETTINGS)

    assert await tick(4) == 0
    assert await tick(3) == 2  # the goal and the follow-up, three days before
    assert await tick(3) == 0  # the same pass again: nothing
    # Two instances at once (a lease handed over mid-pass): each reminder still once.
    assert sum(await asyncio.gather(tick(2), tick(2))) == 0
    # The goal is achieved meanwhile (its date unchanged): only the follow-up is reminded.
    r = await client.put(
        f"/cases/{case_id}/plan/goals/g-1",
        json={"need": "medical", "due_on": due.isoformat(), "status": "achieved"},
        headers=h,
    )
    assert r.status_code == 200, r.text
    assert sum(await asyncio.gather(tick(0), tick(0))) == 1
    assert await tick(-3) == 0  # overdue: every setting was decided

    assert await _reminders(pool, case_id) == [
        ("plan_goal", "g-1", 3),
        ("follow_up", "f-1", 3),
        ("follow_up", "f-1", 0),
    ]
    history = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
    assert history.status_code == 200 and "DueDateReminderDue" in history.text
    assert "prosthesis" not in str(await _reminders(pool, case_id))


async def test_dates_waiting_for_their_next_setting_do_not_crowd_out_a_due_one(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker")
    today = datetime.now(UTC).date()
    soon = await _planned(client, h, (today + timedelta(days=4)).isoformat())
    later = await _planned(client, h, (today + timedelta(days=6)).isoformat())
    store = app.state.runtime.store

    def on(day: int) -> datetime:
        return datetime.combine(today + timedelta(days=day), time(9), UTC)

    assert await chase_due_dates(pool, store, on(1), SETTINGS) == 2  # ``soon``, 3 days before
    # Two days on, ``soon`` waits for its day while ``later`` is due: a batch of one case
    # takes ``later``, though ``soon``'s date comes first.
    assert await chase_due_dates(pool, store, on(3), SETTINGS, limit=1) == 2
    assert [d for _, _, d in await _reminders(pool, later)] == [3, 3]
    assert [d for _, _, d in await _reminders(pool, soon)] == [3, 3]


async def test_a_closed_case_is_not_reminded_and_a_reopened_one_is(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker")
    due = datetime.now(UTC).date() + timedelta(days=1)
    case_id = await _planned(client, h, due.isoformat())
    store = app.state.runtime.store
    at = datetime.combine(due, time(9), UTC)

    r = await client.post(
        f"/cases/{case_id}/close", json={"reason": "services_completed"}, headers=h
    )
    assert r.status_code == 200, r.text
    assert not any(r["case_open"] for r in await pool.fetch(QUERY, case_id))
    await chase_due_dates(pool, store, at, SETTINGS)
    assert await _reminders(pool, case_id) == []

    r = await client.post(f"/cases/{case_id}/reopen", json={"reason": "new_needs"}, headers=h)
    assert r.status_code == 200, r.text
    await chase_due_dates(pool, store, at, SETTINGS)
    assert sorted(await _reminders(pool, case_id)) == [
        ("follow_up", "f-1", 0),
        ("plan_goal", "g-1", 0),
    ]


async def test_safepath_replay_rebuilds_the_dates_the_timer_chases(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker")
    due = datetime.now(UTC).date() + timedelta(days=2)
    reminded = await _planned(client, h, due.isoformat())
    done = await _planned(client, h, due.isoformat())
    r = await client.put(
        f"/cases/{done}/follow-ups/f-1", json={"due_on": due.isoformat(), "done": True}, headers=h
    )
    assert r.status_code == 200, r.text
    at = datetime.combine(due, time(9), UTC) - timedelta(days=2)
    assert await chase_due_dates(pool, app.state.runtime.store, at, SETTINGS) == 3
    query = 'SELECT * FROM "case".due_date WHERE case_id = ANY($1) ORDER BY 1, 2, 3'
    live = [dict(r) for r in await pool.fetch(query, [reminded, done])]
    assert len(live) == 4 and {r["reminded_days"] for r in live} == {3, None}

    await rebuild(EventStore(pool, "case"), PROJECTIONS["due_date"], fresh=True)

    assert [dict(r) for r in await pool.fetch(query, [reminded, done])] == live


@asynccontextmanager
async def running(
    settings: Settings, clock: Callable[[], datetime]
) -> AsyncIterator[httpx.AsyncClient]:
    """The case service with its timers under their leases, on ``clock``; stopped on exit."""
    config = CaseSettings(due_reminder_days=[3, 0], due_interval_seconds=0.05)
    app = bootstrap(settings, clock=clock, config=config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
        await stop_background_tasks(app)


async def test_the_timer_under_its_lease_reminds_once_across_restarts(
    settings: Settings, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth("caseworker")
    start = datetime.combine(datetime.now(UTC).date(), time(9), UTC)
    # Planned four days before, when nothing is due: the timer (a pass every 50 ms) must
    # not append a reminder between the plan's writes, which carry no If-Match and would
    # then be refused as a conflict (409), as any write racing another is.
    now = [start - timedelta(days=1)]
    due = start.date() + timedelta(days=3)
    async with running(settings, lambda: now[0]) as client:
        case_id = await _planned(client, h, due.isoformat())
        now[0] = start  # three days before

        async def both_reminded() -> bool:
            return len(await _reminders(pool, case_id)) == 2

        await _until(both_reminded)  # three days before: the goal and the follow-up
        await asyncio.sleep(0.3)  # more passes: nothing new
    assert len(await _reminders(pool, case_id)) == 2

    # On the day, twice restarted: each date reminded once more, and only once.
    now[0] = start + timedelta(days=3)
    for _ in range(2):
        async with running(settings, lambda: now[0]):

            async def on_the_day() -> bool:
                return len(await _reminders(pool, case_id)) == 4

            await _until(on_the_day)
            await asyncio.sleep(0.3)
    assert sorted(await _reminders(pool, case_id)) == [
        ("follow_up", "f-1", 0),
        ("follow_up", "f-1", 3),
        ("plan_goal", "g-1", 0),
        ("plan_goal", "g-1", 3),
    ]


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the due-date timer did not remind in time")
