"""The durations' medians and 90th percentiles, which ``answer`` works out from each cell's
hours (the cells' and the margins'), are PostgreSQL's own ``percentile_cont`` over the same
rows grouped by the same sets, on a real PostgreSQL: one and two dimensions, a case
dimension carried on the referral rows, a category list (a row per category), ``as_of``.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

from services.case.app.statistics.query import TOTAL, Question, answer, build_sql
from tests.integration.case.statistics_world import register_providers, write_world
from tests.integration.case.test_statistics import worlds

QUESTIONS = [
    ("time_to_first_answer", "need", None, None),
    ("time_to_first_answer", "region", "sex", None),
    ("time_to_service_start", "need", "procedure_stage", None),
    ("time_to_first_answer", "category", "month", None),  # a row per category (lateral)
    ("time_to_first_answer", "sex", "need", date(2026, 3, 14)),  # as it stood then
    ("time_to_service_start", "quarter", None, None),
]


async def _postgres(pool: asyncpg.Pool, q: Question) -> dict[tuple[str, str], Any]:
    """The same rows, each group's percentiles by ``percentile_cont`` in grouping sets."""
    sql, args = build_sql(q)
    rows = await pool.fetch(
        f"""WITH cells AS ({sql})
        SELECT GROUPING(row_value) = 1, GROUPING(column_value) = 1, row_value, column_value,
               count(*), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY h)
        FROM cells, unnest(cells.array_agg) AS h
        GROUP BY GROUPING SETS ((row_value, column_value), (row_value), (column_value), ())""",
        *args,
    )
    return {
        (TOTAL if r[0] else r[2], TOTAL if r[1] else r[3]): (
            r[4],
            round(r[5][0], 1),
            round(r[5][1], 1),
        )
        for r in rows
        if r[4]  # the grand total of no rows at all: no figure
    }


async def test_the_percentiles_are_postgresqls_over_every_cell_and_margin(
    pool: asyncpg.Pool,
) -> None:
    await register_providers(pool)
    compared = 0
    for spec in worlds(8):
        await write_world(pool, spec)
        for measure, rows, columns, as_of in QUESTIONS:
            q = Question(measure, rows, columns, date(2026, 1, 1), date(2026, 8, 1), as_of)
            raw = await answer(pool, q)
            assert raw.durations is not None
            assert raw.durations == await _postgres(pool, q), (measure, rows, columns)
            assert raw.counts == {k: n for k, (n, _, _) in raw.durations.items() if TOTAL not in k}
            compared += len(raw.durations)
    assert compared > 200


async def test_ties_a_single_value_and_an_even_count_interpolate_as_postgresql_does(
    pool: asyncpg.Pool,
) -> None:
    from services.case.app.statistics.query import _percentiles

    for hours in ([5.0], [1.0, 2.0], [1.0, 1.0, 1.0, 7.5], [0.1 * i for i in range(1, 12)],
                  [3.3, 3.3, 100.25, 1e-3, 17.0, 17.0]):  # fmt: skip
        ordered = sorted(hours)
        expected = await pool.fetchrow(
            "SELECT count(*), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY h)"
            " FROM unnest($1::float8[]) AS h",
            hours,
        )
        assert _percentiles(ordered) == (
            expected[0], round(expected[1][0], 1), round(expected[1][1], 1)
        ), hours  # fmt: skip
