"""The list projection is a pure function of the events: rebuilt, it is the same."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from services.case.app.projection import project, rebuild_case_summary
from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case, transfer


async def summary(pool: asyncpg.Pool) -> list[tuple[object, ...]]:
    rows = await pool.fetch('SELECT * FROM "case".case_summary ORDER BY case_id')
    return [tuple(r.values()) for r in rows]


async def test_rebuilding_the_summary_from_the_events_gives_the_same_rows(
    client: httpx.AsyncClient, auth: Token, app: FastAPI, pool: asyncpg.Pool
) -> None:
    h = auth()
    a = await open_case(client, h)
    b = await open_case(client, h, intake(region="sughd", district="asht", categories=["mine_eo"]))
    await client.post(f"/cases/{a}/close", json={"reason": "duplicate"}, headers=h)
    await transfer(client, h, auth(sub="cw-2"), b, {"to_caseworker": "cw-2"})
    await client.get(f"/cases/{a}", headers=h)  # an access record: not a case change
    live = await summary(pool)
    assert [(r[1], r[6]) for r in live] == [("closed", "caseworker-1"), ("open", "cw-2")]

    rt = app.state.runtime
    await pool.execute('DELETE FROM "case".case_summary')
    read = await rebuild_case_summary(rt.pool, rt.store)
    # 2 x (opened + profile) + close + transfer (requested, accepted, moved) + one access
    assert read == 9
    assert await summary(pool) == live


async def test_an_intake_projected_in_one_statement_leaves_the_row_two_would(
    client: httpx.AsyncClient, auth: Token, app: FastAPI, pool: asyncpg.Pool
) -> None:
    """The intake's CaseOpened and SurvivorProfileRecorded are projected by one upsert;
    the row is the one the two statements give, a replay moves nothing, and a row only
    CaseOpened reached gets the profile's columns."""
    h = auth()
    a = await open_case(client, h, intake(region="sughd", district="asht", categories=["mine_eo"]))
    live = await summary(pool)
    opened, profile = (await app.state.runtime.store.read_stream(a))[:2]
    assert (opened.event_name, profile.event_name) == ("CaseOpened", "SurvivorProfileRecorded")
    row = await pool.fetchrow('SELECT region, district, version FROM "case".case_summary')
    assert (row["region"], row["district"], row["version"]) == ("sughd", "asht", 2)

    await pool.execute('DELETE FROM "case".case_summary')
    async with pool.acquire() as conn:
        await project(conn, [opened])
        await project(conn, [profile])
    assert await summary(pool) == live  # one at a time, as before the merge

    async with pool.acquire() as conn:
        await project(conn, [opened, profile])
    assert await summary(pool) == live  # again: nothing moves

    await pool.execute('DELETE FROM "case".case_summary')
    async with pool.acquire() as conn:
        await project(conn, [opened])
        await project(conn, [opened, profile])
    assert await summary(pool) == live  # the older row is brought up to the profile
