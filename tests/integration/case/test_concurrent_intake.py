"""Two intakes of one person at the same moment see each other (issue 14): each write
locks the blind keys it stores and looks up, so the second looks up after the first
commits. Without the lock both look up before either commits and neither is found."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime

import asyncpg
import httpx
from fastapi import FastAPI

from services.case.app.duplicates import PersonIndex, index_key_from
from services.case.domain.person_keys import Identity
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def zarina(given: str = "Zarina", family: str = "Qodirova") -> Identity:
    return Identity(given, family, "female", date_of_birth=date(1996, 4, 11))


async def waits_for_a_lock(pool: asyncpg.Pool, pid: int, task: asyncio.Task[object]) -> bool:
    """True once backend ``pid`` waits for a lock; False if ``task`` ended first."""
    while not task.done():
        q = "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1"
        if await pool.fetchval(q, pid) == "Lock":
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_second_index_write_waits_for_the_first_and_finds_it(
    app: FastAPI, pool: asyncpg.Pool, settings: Settings
) -> None:
    index = PersonIndex("case", index_key_from(settings))
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with pool.acquire() as a, pool.acquire() as b:
        tx_a = a.transaction()
        await tx_a.start()
        assert await index.index(a, first, zarina(), NOW) == []

        async def other_office() -> list[str]:
            async with b.transaction():
                # A typo (one consonant off) shares only the fuzzy keys: it waits too.
                found = await index.index(b, second, zarina("Zarinah", "Qodisova"), NOW)
                return [d.case_id for d in found]

        task = asyncio.create_task(other_office())
        waited = await waits_for_a_lock(pool, b.get_server_pid(), task)
        await tx_a.commit()
        assert await task == [first]
        assert waited  # it did not look up before the first committed
    pairs = await pool.fetch('SELECT case_a, case_b, status FROM "case".duplicate_pair')
    assert [(r["case_a"], r["case_b"], r["status"]) for r in pairs] == [
        (min(first, second), max(first, second), "pending")
    ]


async def test_two_simultaneous_intakes_of_one_person_see_each_other(
    client: httpx.AsyncClient, auth: Token
) -> None:
    person = {"given_name": "Зарина", "family_name": "Қодирова", "date_of_birth": "1996-04-11"}
    latin = {"given_name": "Zarinah", "family_name": "Kodirova", "date_of_birth": "1996-04-11"}
    a_headers = auth("caseworker", sub="cw-khujand", office="khujand-nrm", region="sughd")
    b_headers = auth("caseworker", sub="cw-khorog", office="khorog-rcst", region="gbao")
    gbao = {"region": "gbao", "district": "khorog"}
    ra, rb = await asyncio.gather(
        client.post("/cases", json=intake(**person), headers=a_headers),
        client.post("/cases", json=intake(**latin, **gbao), headers=b_headers),
    )
    assert ra.status_code == rb.status_code == 201, (ra.text, rb.text)
    a, b = ra.json()["id"], rb.json()["id"]
    named = [d["case_id"] for d in ra.json()["possible_duplicates"]] + [
        d["case_id"] for d in rb.json()["possible_duplicates"]
    ]
    assert named in ([a], [b])  # the later of the two names the earlier, exactly once
    page = await client.get("/duplicates", headers=auth("supervisor", region="gbao"))
    assert [{i["a"]["case_id"], i["b"]["case_id"]} for i in page.json()["items"]] == [{a, b}]
