"""Every statistics reading has its plan made for its values each time, whatever the
connection's own setting: the driver prepares each statement once per connection, and
after five runs PostgreSQL may keep a generic plan, made without knowing the period or the
day, up to four and a half times as slow on the benchmark's store for 13 of the 134
questions of its sample (docs/statistics.md, "Speed", fifteenth round). Checked on a real
PostgreSQL, by its own count of the plans each prepared statement was run with, on a
connection whose setting asks for generic plans: a question of each kind of reading, asked
seven times, ran with custom plans only. A connection already in a transaction is read as
it is (the setting would outlive the question), and the connection's setting is left as it
was.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg
import pytest

from services.case.app.statistics.catalogue import MEASURES
from services.case.app.statistics.query import Question, answer, build_sql
from tests.integration.case.statistics_world import register_providers, write_world
from tests.integration.case.test_statistics import worlds

AS_OF = date(2026, 5, 15)
QUESTIONS = [
    Question("referrals", "need", "sex", date(2026, 1, 1), date(2026, 8, 1)),  # now
    Question("cases_opened", "region", "sex", date(2026, 1, 1), date(2026, 8, 1), AS_OF),
    # as they stood, corrected for the cases changed since; and for the referrals moved
    Question("referrals", "need", "sex", date(2026, 1, 1), date(2026, 8, 1), AS_OF),
    Question("referrals", "outcome", "identification", date(2026, 1, 1), date(2026, 8, 1), AS_OF),
    Question(
        "time_to_first_answer", "provider_type", None, date(2026, 1, 1), date(2026, 8, 1), AS_OF
    ),
]


async def _plans(conn: asyncpg.Connection, sql: str) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
        sql,
    )
    assert row is not None, "the question was not prepared on this connection"
    return int(row[0]), int(row[1])


async def test_every_reading_plans_for_its_values(pool: asyncpg.Pool) -> None:
    await register_providers(pool)
    for spec in worlds(2):
        await write_world(pool, spec)
    async with pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        for q in QUESTIONS:
            for _ in range(7):
                await answer(conn, q)
            assert await _plans(conn, build_sql(q)[0]) == (0, 7), q
        # the connection's own setting is untouched
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        # in a transaction of the caller's: read as it is (its setting)
        q = QUESTIONS[0]
        async with conn.transaction():
            await answer(conn, q)
        assert await _plans(conn, build_sql(q)[0]) == (1, 7), q
        await conn.execute("RESET plan_cache_mode")


async def test_a_duration_reading_has_the_memory_to_hash_its_cells(pool: asyncpg.Pool) -> None:
    """A duration gathers each cell's hours: with the default 4 MB the planner sorted the
    rows of a few hundred cells instead of hashing them (sixteenth round). The reading asks
    for 16 MB, for itself alone."""
    from services.case.app.statistics.query import _fetch

    setting = "SELECT current_setting('work_mem')"
    async with pool.acquire() as conn:
        own = await conn.fetchval("SHOW work_mem")
        assert own != "16MB"
        assert (await _fetch(conn, setting, [], hashed=False, wide=True))[0][0] == "16MB"
        assert (await _fetch(conn, setting, [], hashed=False))[0][0] == own  # a count
        assert await conn.fetchval("SHOW work_mem") == own  # the connection's, untouched


async def test_a_count_of_facts_by_outcome_as_of_a_day_has_the_memory_to_hash_its_cells(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A count of facts by their referral's outcome as of a day groups by a look-up, whose
    values the planner guessed at tens of thousands: it sorted the facts on disk (eighteenth
    round). Such a reading, and only such a reading, asks for the memory a duration asks
    for; the flag that says so (``outcome_looked_up``) and the SQL agree on which they are."""
    from services.case.app.statistics import query

    asked: list[bool] = []
    fetch = query._fetch

    async def spy(db: Any, sql: str, args: list[Any], hashed: bool, wide: bool = False) -> Any:
        asked.append(wide)
        return await fetch(db, sql, args, hashed, wide)

    monkeypatch.setattr(query, "_fetch", spy)
    await register_providers(pool)
    await write_world(pool, worlds(1)[0])
    seen = set()
    for name, m in MEASURES.items():
        if m.base != "fact":
            continue
        for dimension in m.dimensions:
            for as_of in (None, date(2026, 5, 15)):
                q = Question(name, dimension, None, date(2026, 1, 1), date(2026, 8, 1), as_of)
                looked_up = "ORDER BY k.at DESC" in build_sql(q)[0]
                assert query.outcome_looked_up(q) == looked_up, q
                await answer(pool, q)
                assert asked.pop() == looked_up, q
                seen.add(looked_up)
    assert seen == {True, False}
