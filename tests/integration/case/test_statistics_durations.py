"""The durations' medians and 90th percentiles, which ``answer`` works out from each cell's
hours (the cells' and the margins'), are PostgreSQL's own ``percentile_cont`` over the same
rows grouped by the same sets, on a real PostgreSQL: one and two dimensions, a case
dimension carried on the referral rows, a category list (a row per category), ``as_of``.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

import asyncpg

from services.case.app.statistics.query import TOTAL, Question, answer, build_sql
from services.case.app.timeline import apply_referral_event
from shared.envelope import Envelope
from shared.events.case import SurvivorProfileUpdated
from shared.eventstore import EventStore
from tests.integration.case.statistics_world import (
    T0,
    _append,
    _request,
    register_providers,
    write_world,
)
from tests.integration.case.test_statistics import worlds
from tests.unit.case.builders import opened, profiled

QUESTIONS = [
    ("time_to_first_answer", "need", None, None),
    ("time_to_first_answer", "region", "sex", None),
    ("time_to_service_start", "need", "procedure_stage", None),
    ("time_to_first_answer", "category", "month", None),  # a row per category (lateral)
    ("time_to_first_answer", "sex", "need", date(2026, 3, 14)),  # as it stood then
    ("time_to_service_start", "quarter", None, None),
]


async def _postgres(pool: asyncpg.Pool, q: Question) -> dict[tuple[str, str], Any]:
    """The same rows, each group's percentiles by ``percentile_cont`` in grouping sets. A
    reading corrected for the cases changed since ``as_of`` gives some hours with a
    negative count, taken back from the cell's others: each value counted as often as
    its cell's rows give it, less as often as they take it back."""
    sql, args = build_sql(q)
    rows = await pool.fetch(
        f"""WITH cells AS ({sql}),
        times AS (SELECT row_value, column_value, h, sum(sign(cells.count))::int AS times
                  FROM cells, unnest(cells.array_agg) AS h GROUP BY row_value, column_value, h),
        hours AS (SELECT row_value, column_value, h FROM times, generate_series(1, times))
        SELECT GROUPING(row_value) = 1, GROUPING(column_value) = 1, row_value, column_value,
               count(*), percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY h)
        FROM hours
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


async def _answered(pool: asyncpg.Pool, band: str, hours: float) -> tuple[str, int]:
    """A case (of ``band``) with a request for shelter routed at T0 + 3 h and accepted
    ``hours`` later: (case, next version)."""
    store = EventStore(pool, "case")
    case_id = str(uuid.uuid4())
    v = await _append(pool, store, case_id, 0, opened(region="sughd"), T0)
    v = await _append(pool, store, case_id, v, profiled(age_band=band, region="sughd"), T0)
    request = str(uuid.uuid4())
    v = await _append(pool, store, case_id, v, _request(["shelter"], request), T0)
    referral_id = str(uuid.uuid5(uuid.UUID(request), "shelter"))
    routed = T0 + timedelta(hours=3)
    for version, (name, at) in enumerate(
        (("ReferralRouted", routed), ("ReferralAccepted", routed + timedelta(hours=hours))), 1
    ):
        data: dict[str, Any] = {"referral_id": referral_id, "case_id": case_id,
                                "provider_id": "p1"}  # fmt: skip
        if name == "ReferralRouted":
            data |= {"need": "shelter", "attempt": 1}
        env = Envelope(
            id=str(uuid.uuid4()), source="safepath/referral",
            type=f"org.safepath.referral.{name}.v1", subject=referral_id, time=at,
            dataschema="urn:test", streamversion=version, correlationid="t",
            actor="service:referral", data=data,
        )  # fmt: skip
        async with pool.acquire() as conn, conn.transaction():
            await apply_referral_event(conn, env, None)  # type: ignore[arg-type]
    return case_id, v


async def test_cases_changed_since_count_their_hours_where_they_stood(pool: asyncpg.Pool) -> None:
    """As of a day, cases whose age band changed since count their referrals' hours in the
    band they had: taken back from their band now as often as they give them (two cases
    of 2 hours moved where a third that did not move has 2 hours too: one value stays),
    a band that only cases moved since are in now is not in the answer, and each is
    counted in the band it had, beside a case that did not change. Now, in their bands
    now. PostgreSQL's percentiles over the same rows agree; the counts of referrals too."""
    await register_providers(pool)
    store = EventStore(pool, "case")
    for band, hours in (("18-24", 2.0), ("18-24", 2.0), ("25-39", 5.0)):
        moved, v = await _answered(pool, "12-17", hours)
        now = profiled(age_band=band, region="sughd").profile
        await _append(pool, store, moved, v, SurvivorProfileUpdated(profile=now),
                      T0 + timedelta(days=20))  # fmt: skip
    await _answered(pool, "12-17", 7.0)
    await _answered(pool, "18-24", 2.0)
    month = T0.date()
    for as_of, expected in (
        (T0.date() + timedelta(days=5), {"12-17": (4, 3.5), "18-24": (1, 2.0)}),
        (None, {"12-17": (1, 7.0), "18-24": (3, 2.0), "25-39": (1, 5.0)}),
    ):
        q = Question("time_to_first_answer", "age_band", None, month, month, as_of)
        raw = await answer(pool, q)
        assert raw.durations is not None
        got = {r: (n, median) for (r, _), (n, median, _) in raw.durations.items() if r != TOTAL}
        assert got == expected, as_of
        assert raw.durations == await _postgres(pool, q)
        counts = (await answer(pool, Question("referrals", "age_band", None, month, month,
                                              as_of))).counts  # fmt: skip
        assert counts == {(band, ""): n for band, (n, _) in expected.items()}, as_of
        sql, args = build_sql(q)
        negative = [r for r in await pool.fetch(sql, *args) if r["count"] < 0]
        assert bool(negative) == (as_of is not None)  # the correction, as of the day only
