"""A question by month, quarter or year groups by a period of an instant, and the planner
knows how many periods there are (migration 0025's statistics on each such expression,
filled by ANALYZE): without them it takes each instant for a period of its own, and on
the benchmark's store read and grouped the rows in one process instead of in parallel
(docs/statistics.md, "Speed", twelfth round). Checked on the plans themselves, on a real
PostgreSQL, for every measure that counts facts or referrals by a period: the planner's
estimate of the answer's rows is about the number of periods, not of instants.
"""

from __future__ import annotations

import json
from datetime import date

import asyncpg

from services.case.app.statistics.catalogue import MEASURES
from services.case.app.statistics.query import Question, build_sql
from tests.integration.case.statistics_world import register_providers, write_world
from tests.integration.case.test_statistics import worlds

PERIODS = {"month": 8, "quarter": 3, "year": 1}  # at most, from January to August 2026


async def test_the_planner_expects_as_many_groups_as_periods(pool: asyncpg.Pool) -> None:
    await register_providers(pool)
    for spec in worlds(6):
        await write_world(pool, spec)
    await pool.execute('ANALYZE "case".stat_referral')
    await pool.execute('ANALYZE "case".stat_fact')
    instants = await pool.fetchval('SELECT count(DISTINCT at) FROM "case".stat_fact')
    assert instants > 3 * PERIODS["month"]  # else any estimate would pass
    asked = 0
    for name, m in MEASURES.items():
        if m.base not in ("fact", "referral", "duration"):
            continue
        for period, most in PERIODS.items():
            if period not in m.dimensions:
                continue
            q = Question(name, period, None, date(2026, 1, 1), date(2026, 8, 1))
            sql, args = build_sql(q)
            plan = json.loads(await pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
            expected = plan[0]["Plan"]["Plan Rows"]
            assert expected <= 2 * most, (name, period, expected)
            asked += 1
    assert asked > 20
