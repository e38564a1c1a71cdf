"""A question that counts facts reads them from the index of their kind and instant alone
(migration 0027): the facts of one kind lie scattered over the whole table, and reading
them from its pages took most of such a question's time on the benchmark's store
(docs/statistics.md, "Speed", thirteenth round). Checked on the plans themselves, on a
real PostgreSQL, for every fact measure by each of its dimensions, now and as of a day,
national and scoped to a region: the planner reads the facts counted from that index
alone (an index-only scan, so every column the count reads is in it), by a referral's
outcome too since migration 0029 (the fact's referral id in the index: without it the
planner read the whole table). One read is not asked of it: as of a day, the facts of the
cases changed since (found by their case through ``stat_fact_case``); with every other way
closed, the planner may take the index by kind for those too, as an index scan.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date

import asyncpg

from services.case.app.statistics.catalogue import MEASURES
from services.case.app.statistics.query import Question, build_sql
from tests.integration.case.statistics_world import (
    plan_nodes,
    register_providers,
    write_world,
)
from tests.integration.case.test_statistics import worlds

INDEX = "stat_fact_kind_at"


def _questions() -> Iterator[Question]:
    for name, m in MEASURES.items():
        if m.base != "fact":
            continue
        for rows in m.dimensions:
            for as_of in (None, date(2026, 5, 15)):
                yield Question(name, rows, None, date(2026, 1, 1), date(2026, 8, 1), as_of)
        if "sex" in m.dimensions:
            yield Question(name, "sex", None, date(2026, 1, 1), date(2026, 8, 1),
                           region_scope="khatlon")  # fmt: skip


async def test_a_fact_question_reads_the_facts_from_their_index_alone(
    pool: asyncpg.Pool,
) -> None:
    await register_providers(pool)
    for spec in worlds(4):
        await write_world(pool, spec)
    await pool.execute('VACUUM ANALYZE "case".stat_fact')
    asked = 0
    async with pool.acquire() as conn:
        # Every other way to the rows closed, so that the plan shows whether the index
        # can answer alone: one column missing from it makes an index scan of it instead.
        await conn.execute("SET enable_seqscan = off")
        await conn.execute("SET enable_bitmapscan = off")
        for q in _questions():
            sql, args = build_sql(q)
            plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
            scans = [
                n["Node Type"] for n in plan_nodes(plan[0]["Plan"]) if n.get("Index Name") == INDEX
            ]
            # The facts counted: read from the index alone. As of a day, the facts of the
            # cases changed since are read again by their case, which the index lacks.
            assert "Index Only Scan" in scans, (q, scans)
            if q.as_of is None:
                assert set(scans) == {"Index Only Scan"}, (q, scans)
            asked += 1
    assert asked > 50
