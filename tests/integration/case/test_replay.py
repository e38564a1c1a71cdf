"""``safepath replay --service case --projection case_summary`` equals the live read model;
loading a case for a command equals the full fold."""

from __future__ import annotations

import uuid

import asyncpg
import httpx
import pytest

from services.case.app.loading import load_case
from services.case.domain import fold
from services.case.projections import PROJECTIONS
from shared.commands import load
from shared.eventstore import EventStore
from shared.projections import Projection, rebuild
from tests.integration.case.generated import generate
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


async def summary_rows(pool: asyncpg.Pool) -> list[dict[str, object]]:
    return [dict(r) for r in await pool.fetch('SELECT * FROM "case".case_summary ORDER BY case_id')]


async def test_set_based_rebuild_equals_the_live_table_on_a_generated_store(
    pool: asyncpg.Pool,
) -> None:
    """Several hundred cases, every event type, written through the live projection: the
    set-based rebuild leaves the very same rows, whatever the batch size (small batches
    split streams across batches), and so does replaying through ``project``."""
    written = await generate(pool, cases=300)
    live = await summary_rows(pool)
    assert len(live) == 300
    assert {r["status"] for r in live} == {"open", "closed"}
    assert any(r["district"] for r in live) and any(r["office"] is None for r in live)
    store = EventStore(pool, "case")
    summary = PROJECTIONS["case_summary"]
    assert summary.rebuild is not None
    for batch in (7, 100, 20_000):
        assert await rebuild(store, summary, batch=batch, fresh=True) == written
        assert await summary_rows(pool) == live, f"batch {batch}"
    per_event = Projection("per_event", summary.tables, summary.apply)
    assert await rebuild(store, per_event, batch=500, fresh=True) == written
    assert await summary_rows(pool) == live


class Interrupted(Exception):
    pass


async def test_an_interrupted_set_based_rebuild_resumes_to_the_same_table(
    pool: asyncpg.Pool,
) -> None:
    written = await generate(pool, cases=40, seed=3)
    live = await summary_rows(pool)
    store = EventStore(pool, "case")
    calls: list[int] = []

    def stop_after_three_batches(done: int, total: int, rate: float) -> None:
        calls.append(done)
        if len(calls) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        await rebuild(
            store, PROJECTIONS["case_summary"], batch=50, progress=stop_after_three_batches
        )
    assert len(await summary_rows(pool)) < len(live)
    done: list[int] = []
    total = await rebuild(
        store, PROJECTIONS["case_summary"], batch=50, progress=lambda d, t, r: done.append(d)
    )
    assert done[0] == 200 and total == written  # resumed after the three batches
    assert await summary_rows(pool) == live


async def test_loading_a_case_for_a_command_gives_the_full_fold(pool: asyncpg.Pool) -> None:
    """``load_case`` (few columns, ``model_validate_json``) = ``fold`` over ``read_stream``."""
    await generate(pool, cases=60, seed=5)
    store = EventStore(pool, "case")
    ids = [r["case_id"] for r in await pool.fetch('SELECT case_id FROM "case".case_summary')]
    for case_id in [*ids, str(uuid.uuid4())]:
        full = await load(store, case_id, fold)
        lean = await load_case(store, case_id)
        assert (lean.state, lean.version) == (full.state, full.version)
