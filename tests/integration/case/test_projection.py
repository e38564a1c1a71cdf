"""The list projection is a pure function of the events: rebuilt, it is the same."""

from __future__ import annotations

import asyncpg
import httpx
from fastapi import FastAPI

from services.case.app.projection import rebuild_case_summary
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
