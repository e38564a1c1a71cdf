"""``safepath replay --service case --projection case_summary`` equals the live read model."""

from __future__ import annotations

import asyncpg
import httpx

from services.case.projections import PROJECTIONS
from shared.eventstore import EventStore
from shared.projections import rebuild
from tests.integration.case.stories import give_referral_consent, open_case


async def test_rebuilt_case_summary_equals_the_live_one(
    client: httpx.AsyncClient,
    auth,
    pool: asyncpg.Pool,  # type: ignore[no-untyped-def]
) -> None:
    h = auth("caseworker", office="khujand")
    for i in range(4):
        case_id = await open_case(client, h)
        await give_referral_consent(client, h, case_id)
        if i % 2:
            await client.post(
                f"/cases/{case_id}/close", json={"reason": "services_completed"}, headers=h
            )
    await client.get(f"/cases/{case_id}", headers=h)  # an access record: not in the summary
    live = [dict(r) for r in await pool.fetch('SELECT * FROM "case".case_summary ORDER BY case_id')]
    assert len(live) == 4
    events = await rebuild(EventStore(pool, "case"), PROJECTIONS["case_summary"], fresh=True)
    assert events >= 13
    rebuilt = [
        dict(r) for r in await pool.fetch('SELECT * FROM "case".case_summary ORDER BY case_id')
    ]
    assert rebuilt == live
