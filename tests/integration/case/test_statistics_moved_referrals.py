"""A count or a duration by a referral's outcome or provider's kind as of a day reads the
referrals as they stand and corrects for the few with a fact since, found by the index of
migration 0028 (docs/statistics.md, "Speed", fourteenth and fifteenth rounds); by a case
dimension too, the same correction takes in the referrals of the cases changed since.
Checked on the plans, on a real PostgreSQL, for every referral and duration measure by
outcome or provider's kind: the referrals moved since are read through that index, never
by a sub-query per referral over the whole table. That the answers are the referrals as
they stood is the recount's (``test_every_answer_equals_a_recount_from_the_events``).
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

INDEX = "stat_referral_moved"


def _questions() -> Iterator[Question]:
    for name, m in MEASURES.items():
        if m.base not in ("referral", "duration"):  # a fact's referral is found by its id
            continue
        for rows in ("outcome", "provider_type"):
            # by the referral alone, and by a case dimension (one correction for both)
            for columns in (None, "identification"):
                yield Question(name, rows, columns, date(2026, 1, 1), date(2026, 8, 1),
                               date(2026, 5, 15))  # fmt: skip


async def test_a_reading_as_of_a_day_finds_the_referrals_moved_since_by_their_index(
    pool: asyncpg.Pool,
) -> None:
    await register_providers(pool)
    for spec in worlds(4):
        await write_world(pool, spec)
    await pool.execute('VACUUM ANALYZE "case".stat_referral')
    asked = 0
    async with pool.acquire() as conn:
        # The index's way closed to none: the small worlds would be read whole anyway.
        await conn.execute("SET enable_seqscan = off")
        # Nor a whole index read in its order, filtered (for the referrals of the cases
        # changed since, found by their case: a condition with an OR, read by bitmaps).
        await conn.execute("SET enable_indexscan = off")
        for q in _questions():
            sql, args = build_sql(q)
            plan = json.loads(await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args))
            root = plan[0]["Plan"]
            appended = [n for n in plan_nodes(root) if n["Node Type"] == "Append"]
            branches = [
                b for n in appended for b in n["Plans"] if b["Parent Relationship"] == "Member"
            ]
            # Two branches: the referrals as they stand, with no sub-query; and the moved
            # ones (and those of the cases changed since), each as it stood (its
            # sub-queries), found by the index's condition.
            looked_up = [b for b in branches if any("Subplan Name" in n for n in plan_nodes(b))]
            assert len(branches) == 2 and len(looked_up) == 1, q
            found_by = [
                n.get("Index Cond", "")
                for n in plan_nodes(looked_up[0])
                if n.get("Index Name") == INDEX
            ]
            if q.columns is None:
                assert any("greatest(last_at, provider_at)" in c.lower() for c in found_by), q
            else:  # the condition has an OR (or by their case): the few rows of the small
                # worlds are found by the index's second column as well (the benchmark's
                # plan ORs the two indexes); still one branch, none read whole
                assert found_by, q
            asked += 1
    assert asked >= 8
