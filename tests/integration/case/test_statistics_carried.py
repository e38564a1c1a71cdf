"""The case's dimensions carried on its facts and referral rows (migration 0021) stay the
case's current ones when a received referral fact (the consumer's transaction) and a change
of the case's dimensions (the case's own append) run at the same time, in either order: the
received fact holds the case's row (``_hold_case_row``), so one of the two waits for the
other, on a real PostgreSQL.

Without the hold each order leaves the fact with the dimensions the case had before the
change (checked by taking it out). And a reading ``as_of`` counts a case that moved since
as it stood, scoped by its region now.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from pathlib import Path

import asyncpg

from services.case.app.statistics import model
from services.case.app.statistics.model import project as project_statistics
from services.case.app.statistics.query import Question, answer
from services.case.app.timeline import apply_referral_event
from shared.envelope import Envelope
from shared.events.case import SurvivorProfileUpdated
from shared.events.case_person import CASUALTY_PREFIX, CasualtyCorrected, CasualtyRecorded
from shared.eventstore import EventStore, NewEvent
from tests.integration.case.statistics_world import (
    ACTOR,
    T0,
    _append,
    _request,
    register_providers,
    write_world,
)
from tests.integration.case.test_statistics import worlds
from tests.unit.case.builders import opened, profiled, sealed

WAIT = 0.5  # long enough for a statement that does not wait to have finished


async def _case_with_a_referral(pool: asyncpg.Pool) -> tuple[str, str, int]:
    """A case, its profile (female, in Sughd) and a request for shelter: (case, referral,
    next version)."""
    await register_providers(pool)
    store = EventStore(pool, "case")
    case_id = str(uuid.uuid4())
    v = await _append(pool, store, case_id, 0, opened(region="sughd"), T0)
    profile = profiled(sex="female", region="sughd", categories=["trafficking"])
    v = await _append(pool, store, case_id, v, profile, T0 + timedelta(hours=1))
    request = str(uuid.uuid4())
    v = await _append(pool, store, case_id, v, _request(["shelter"], request), T0)
    return case_id, str(uuid.uuid5(uuid.UUID(request), "shelter")), v


def _received(case_id: str, referral_id: str, name: str = "ReferralRouted") -> Envelope:
    data = {"referral_id": referral_id, "case_id": case_id, "provider_id": "p1"}
    if name == "ReferralRouted":
        data |= {"need": "shelter", "attempt": 1}
    return Envelope(
        id=str(uuid.uuid4()), source="safepath/referral",
        type=f"org.safepath.referral.{name}.v1", subject=referral_id,
        time=T0 + timedelta(hours=3), dataschema="urn:test", streamversion=1,
        correlationid="t", actor="service:referral", data=data,
    )  # fmt: skip


async def _receive(conn: asyncpg.Connection, env: Envelope) -> None:
    await apply_referral_event(conn, env, None)  # type: ignore[arg-type]


async def _change_sex(
    pool: asyncpg.Pool, conn: asyncpg.Connection, case_id: str, version: int
) -> None:
    """The case's profile now says male (in ``conn``'s transaction)."""
    profile = profiled(sex="male", region="sughd", categories=["trafficking"]).profile
    e = SurvivorProfileUpdated(profile=profile)
    stored = await EventStore(pool, "case").append(
        case_id, version, [NewEvent(e, ACTOR, "t", occurred_at=T0 + timedelta(hours=2))],
        conn=conn,
    )  # fmt: skip
    await project_statistics(conn, stored)


async def _carried_sex(pool: asyncpg.Pool, referral_id: str) -> tuple[str, ...]:
    facts = await pool.fetch(
        f"SELECT sex FROM {model.FACT} WHERE referral_id = $1 ORDER BY kind", referral_id
    )
    row = await pool.fetchval(f"SELECT sex FROM {model.REFERRAL} WHERE referral_id = $1",
                              referral_id)  # fmt: skip
    return (*(f["sex"] for f in facts), row)


Work = Callable[[asyncpg.Connection], Awaitable[None]]


async def _second_waits_for_first(pool: asyncpg.Pool, first: Work, second: Work) -> bool:
    """``first`` in a transaction left open while ``second`` runs in its own; whether
    ``second`` was still waiting when ``first`` committed (both done on return)."""
    holding = await pool.acquire()
    try:
        tx = holding.transaction()
        await tx.start()
        await first(holding)

        async def run_second() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await second(conn)

        waiting = asyncio.ensure_future(run_second())
        await asyncio.sleep(WAIT)
        waited = not waiting.done()
        await tx.commit()
        await waiting
    finally:
        await pool.release(holding)
    return waited


async def test_a_change_made_while_a_received_fact_is_written_is_carried_onto_it(
    pool: asyncpg.Pool,
) -> None:
    case_id, referral_id, v = await _case_with_a_referral(pool)
    assert await _second_waits_for_first(
        pool,
        lambda conn: _receive(conn, _received(case_id, referral_id)),
        lambda conn: _change_sex(pool, conn, case_id, v),
    )
    # the request's fact, the routed fact and the referral's row: the case as it now stands
    assert await _carried_sex(pool, referral_id) == ("male", "male", "male")


async def test_a_fact_received_while_a_change_is_made_carries_the_change(
    pool: asyncpg.Pool,
) -> None:
    case_id, referral_id, v = await _case_with_a_referral(pool)
    assert await _second_waits_for_first(
        pool,
        lambda conn: _change_sex(pool, conn, case_id, v),
        lambda conn: _receive(conn, _received(case_id, referral_id)),
    )
    assert await _carried_sex(pool, referral_id) == ("male", "male", "male")


async def test_a_fact_whose_case_has_no_row_carries_none_and_is_not_counted_by_case(
    pool: asyncpg.Pool,
) -> None:
    """A referral fact about a case the statistics hold no row for (none in a running
    system: a referral follows its case's request) carries no dimensions, and a question by
    a case dimension does not count it, as the join to the case's row did not."""
    await register_providers(pool)
    referral_id = str(uuid.uuid4())
    async with pool.acquire() as conn, conn.transaction():
        await _receive(conn, _received("no-such-case", referral_id, "ReferralEscalated"))
    assert await _carried_sex(pool, referral_id) == (None, None)
    month = date(2026, 1, 1)
    assert (await answer(pool, Question("escalations", None, None, month, month))).counts == {
        ("", ""): 1
    }
    assert (await answer(pool, Question("escalations", "sex", None, month, month))).counts == {}
    # as the records stood at a day: its case had no row then either
    then = Question("escalations", None, None, month, month, date(2026, 1, 20))
    assert (await answer(pool, then)).counts == {}


MIGRATION_0021 = (
    Path(__file__).resolve().parents[3]
    / "services/case/migrations/0021_statistics_carried_dimensions.sql"
).read_text()


async def test_the_upgrade_carries_the_dimensions_onto_the_rows_written_before_it(
    pool: asyncpg.Pool,
) -> None:
    """An installation upgraded past migration 0021: its facts and referral rows, written
    before the columns existed (NULL), carry their case's dimensions from the migration on,
    as the live path would have written them."""
    for spec in worlds(2):
        await write_world(pool, spec)
    tables = (model.FACT, model.REFERRAL)
    before = {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1") for t in tables}
    assert all(before.values())
    nulls = ", ".join(f"{x} = NULL" for x in model.CARRIED)
    for t in tables:  # as before the migration
        await pool.execute(f"UPDATE {t} SET {nulls}")
    start = MIGRATION_0021.index("UPDATE")
    carry = MIGRATION_0021[start : MIGRATION_0021.index("CREATE INDEX")]
    await pool.execute(carry.replace("{schema}", '"case"'))
    assert {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1") for t in tables} == before


async def test_a_case_moved_since_is_in_its_region_now_and_counted_as_it_stood(
    pool: asyncpg.Pool,
) -> None:
    """As of a day, a regional caller sees the cases in their region now (docs/security.md),
    each counted as it stood then: a case opened in Khatlon and moved to Sughd since counts
    for Sughd's caller, in Khatlon's row; for Khatlon's caller, not at all. For the cases
    opened (read from the index of the cases opened where a case did not change since,
    ``query._opened_as_of``) and for its referral (the dimensions it carries)."""
    await register_providers(pool)
    store = EventStore(pool, "case")
    case_id = str(uuid.uuid4())
    v = await _append(pool, store, case_id, 0, opened(region="khatlon"), T0)
    was = profiled(sex="female", region="khatlon", district="kulob", categories=["trafficking"])
    v = await _append(pool, store, case_id, v, was, T0 + timedelta(hours=1))
    v = await _append(pool, store, case_id, v, _request(["shelter"], str(uuid.uuid4())),
                      T0 + timedelta(hours=2))  # fmt: skip
    now = profiled(sex="female", region="sughd", categories=["trafficking"]).profile
    await _append(pool, store, case_id, v, SurvivorProfileUpdated(profile=now),
                  T0 + timedelta(days=10))  # fmt: skip
    month = T0.date().replace(day=1)
    for measure in ("cases_opened", "referrals"):
        for as_of, scope, expected in (
            (T0.date() + timedelta(days=5), None, {"khatlon": 1}),
            (T0.date() + timedelta(days=5), "sughd", {"khatlon": 1}),
            (T0.date() + timedelta(days=5), "khatlon", {}),
            (None, "sughd", {"sughd": 1}),
            (None, "khatlon", {}),
        ):
            q = Question(measure, "region", None, month, month, as_of, {}, scope)
            counts = (await answer(pool, q)).counts
            got = {row: n for (row, _), n in counts.items() if n}
            assert got == expected, (measure, as_of, scope)


async def test_a_person_killed_whose_record_was_corrected_since_is_no_case_as_of(
    pool: asyncpg.Pool,
) -> None:
    """A person killed is a record, not a case: as of a day before the record was
    corrected (a row then, another now: read as the cases changed since are,
    ``query._changed_since``), the cases opened do not count it; the casualties do, with
    the device it had then."""
    store = EventStore(pool, "case")
    record_id = f"{CASUALTY_PREFIX}{uuid.uuid4()}"
    facts = dict(identifying=sealed("a person killed"), sex="male", age_band="25-39",
                 incident_district="kulob", incident_year=2020)  # fmt: skip
    v = await _append(pool, store, record_id, 0, CasualtyRecorded(
        region="khatlon", device_type="anti_personnel_mine", office=None, caseworker="cw-1",
        **facts), T0)  # fmt: skip
    await _append(pool, store, record_id, v, CasualtyCorrected(
        device_type="unexploded_ordnance", corrected_by="sup-1", **facts),
        T0 + timedelta(days=10))  # fmt: skip
    month, then = T0.date().replace(day=1), T0.date() + timedelta(days=5)
    for as_of in (then, None):
        opened_q = Question("cases_opened", "region", None, month, month, as_of)
        assert (await answer(pool, opened_q)).counts == {}, as_of
    casualties = Question("casualties", "device_type", None, month, month, then)
    assert (await answer(pool, casualties)).counts == {("anti_personnel_mine", ""): 1}
