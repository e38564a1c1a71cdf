"""Each fact carries its referral's last kind and that fact's instant (``referral_kind``,
``referral_last_at``, migration 0030), so that a count of facts by the referral's outcome
reads the facts alone: kept by the live path whatever order the facts come in and however
two transactions interleave, and, as of an instant, read as the fold of the referral's
facts before it. (A rebuild writes the same: ``test_statistics.test_replay_rebuilds_the_same
_statistics`` compares every column; the answers: ``test_every_answer_equals_a_recount``.)
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from services.case.app.statistics import model
from shared.envelope import Envelope
from tests.integration.case.statistics_world import register_providers, write_world
from tests.integration.case.test_statistics import worlds
from tests.integration.case.test_statistics_referral_fold import CUTS, T0, _facts, examples

_MIGRATIONS = Path(model.__file__).resolve().parents[2] / "migrations"
MIGRATION_0030 = (_MIGRATIONS / "0030_statistics_fact_referral_kind.sql").read_text()
MIGRATION_0031 = (_MIGRATIONS / "0031_statistics_referral_provider_kind.sql").read_text()
_CARRIED = f"""SELECT f.fact_id, f.referral_kind, f.referral_last_at, r.last_kind, r.last_at
    FROM {model.FACT} f LEFT JOIN {model.REFERRAL} r ON r.referral_id = f.referral_id"""


async def test_every_fact_carries_its_referrals_last_kind_whatever_order_the_facts_come_in(
    pool: asyncpg.Pool,
) -> None:
    carried = 0
    for generated in examples(150):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"TRUNCATE {model.FACT}, {model.REFERRAL}")
            await model._add_facts(conn, _facts(generated))  # in the generated order
            rows = await conn.fetch(_CARRIED)
        for r in rows:
            assert (r["referral_kind"], r["referral_last_at"]) == (r["last_kind"], r["last_at"])
            carried += r["referral_kind"] is not None
    assert carried > 150  # not only facts of referrals with no answer yet


async def test_a_facts_outcome_as_of_an_instant_is_the_fold_of_its_referrals_facts_before_it(
    pool: asyncpg.Pool,
) -> None:
    """``last_kind_as_of(..., carried=True)``, read from the fact alone (looked up only where
    its referral has a fact since), against the fold of the referral's facts before the
    instant, at each fact's instant and between them."""
    then = model.last_kind_as_of("$1", "f", carried=True)
    looked_up = 0
    for generated in examples(80):
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(f"TRUNCATE {model.FACT}, {model.REFERRAL}")
            await model._add_facts(conn, _facts(generated))
            for until in CUTS:
                rows = await conn.fetch(
                    f"""SELECT f.referral_id, {then}, f.referral_last_at >= $1
                        FROM {model.FACT} f""",
                    until,
                )
                folded = dict(
                    await conn.fetch(
                        f"SELECT referral_id, last_kind FROM ({model.referral_rows_sql('$1')}) x",
                        until,
                    )
                )
                for referral_id, kind, moved in rows:
                    assert kind == folded.get(referral_id), (generated, until)
                    looked_up += bool(moved)
    assert looked_up > 50  # facts whose referral moved since the instant


async def _facts_of(pool: asyncpg.Pool) -> dict[str, tuple[str | None, object]]:
    rows = await pool.fetch(
        f"SELECT fact_id, referral_kind, referral_last_at FROM {model.FACT} ORDER BY 1"
    )
    return {r[0]: (r[1], r[2]) for r in rows}


def _fact(
    fact_id: str, kind: str, minutes: int, provider: str | None = "p1", referral: str = "ref-1"
) -> model.Fact:
    return (fact_id, "case-1", kind, T0 + timedelta(minutes=minutes), referral, "shelter",
            provider, None)  # fmt: skip


@pytest.mark.parametrize(
    ("waiting", "expected"),
    [
        # a later answer merged while an earlier one's transaction is open: the earlier
        # fact, committed first, takes the later kind from the second transaction's carry
        (_fact("f-accepted", "accepted", 10), "accepted"),
        # an assignment by hand merges nothing: it waits (``FOR SHARE``) for the open
        # transaction's merge and carries the kind it leaves, not the one before it
        (_fact("f-by-hand", "assigned_by_hand", 10), "service_started"),
    ],
)
async def test_two_transactions_on_one_referral_leave_every_fact_with_its_last_kind(
    pool: asyncpg.Pool, waiting: model.Fact, expected: str
) -> None:
    await pool.execute(f"TRUNCATE {model.FACT}, {model.REFERRAL}")
    async with pool.acquire() as conn:
        await model._add_facts(conn, [_fact("f-routed", "routed", 1)])
    first_kind = "service_started" if waiting[2] == "assigned_by_hand" else "routed"
    first = _fact("f-first", first_kind, 5 if first_kind == "routed" else 20)
    async with pool.acquire() as a, pool.acquire() as b:
        ta = a.transaction()
        await ta.start()
        await model._add_facts(a, [first])  # holds the referral's row until it commits
        tb = b.transaction()
        await tb.start()
        second = asyncio.ensure_future(model._add_facts(b, [waiting]))
        await asyncio.sleep(0.3)
        assert not second.done(), "the second transaction waits for the first's merge"
        await ta.commit()
        await asyncio.wait_for(second, 10)
        await tb.commit()
    facts = await _facts_of(pool)
    row = await pool.fetchrow(f"SELECT last_kind, last_at FROM {model.REFERRAL}")
    assert row is not None and row["last_kind"] == expected
    assert set(facts.values()) == {(row["last_kind"], row["last_at"])}, facts
    assert len(facts) == 3


# -- the provider's kind on each referral row (migration 0031) ---------------------------------


async def _kinds(pool: asyncpg.Pool) -> dict[str, str | None]:
    rows = await pool.fetch(f"SELECT referral_id, provider_type FROM {model.REFERRAL}")
    return {r[0]: r[1] for r in rows}


async def test_a_change_of_a_providers_kind_reaches_its_referral_rows(pool: asyncpg.Pool) -> None:
    """A referral routed to a provider carries the kind the directory gives; a later change
    of that kind is carried onto it, and an older version arriving late changes nothing; a
    provider the directory has not described yet gives none, until it is described."""
    from tests.integration.case.statistics_world import receive

    await pool.execute(f"TRUNCATE {model.FACT}, {model.REFERRAL}, {model.PROVIDER}")
    await receive(pool, "ProviderRegistered", {"provider": {"id": "p1", "org_type": "ngo"}}, T0)
    async with pool.acquire() as conn:
        await model._add_facts(
            conn, [_fact("f1", "routed", 1), _fact("g1", "routed", 1, "p2", referral="ref-2")]
        )
    assert await _kinds(pool) == {"ref-1": "ngo", "ref-2": None}
    await receive(pool, "ProviderUpdated", {"provider": {"id": "p1", "org_type": "state"}}, T0)
    await receive(pool, "ProviderRegistered", {"provider": {"id": "p2", "org_type": "ngo"}}, T0)
    assert await _kinds(pool) == {"ref-1": "state", "ref-2": "ngo"}
    # an older version, come late (the directory's row has a newer one)
    await pool.execute(f"UPDATE {model.PROVIDER} SET version = version + 1000")
    await receive(pool, "ProviderUpdated", {"provider": {"id": "p1", "org_type": "ngo"}}, T0)
    assert await _kinds(pool) == {"ref-1": "state", "ref-2": "ngo"}
    # the referral moves to the other provider: it takes that one's kind
    async with pool.acquire() as conn:
        await model._add_facts(conn, [_fact("f2", "accepted", 30, "p2")])
    assert await _kinds(pool) == {"ref-1": "ngo", "ref-2": "ngo"}


@pytest.mark.parametrize("directory_first", [True, False])
async def test_a_providers_kind_changed_while_a_referral_moves_to_it_is_carried_onto_it(
    pool: asyncpg.Pool, directory_first: bool
) -> None:
    """A directory event changing a provider's kind and a referral fact naming that
    provider, in two transactions open at once, in either order: the referral row ends
    with the new kind (the merge holds the directory's row ``FOR SHARE``; the directory
    event carries the kind in a statement after its own write)."""
    from tests.integration.case.statistics_world import receive

    await pool.execute(f"TRUNCATE {model.FACT}, {model.REFERRAL}, {model.PROVIDER}")
    await receive(pool, "ProviderRegistered", {"provider": {"id": "p1", "org_type": "ngo"}}, T0)
    changed = "state"
    async with pool.acquire() as directory, pool.acquire() as referral:
        td, tr = directory.transaction(), referral.transaction()
        await td.start()
        await tr.start()
        change = model.record_received
        env = _directory_event("p1", changed)
        if directory_first:
            await change(directory, env)  # holds the directory's row
            moving = asyncio.ensure_future(model._add_facts(referral, [_fact("f1", "routed", 1)]))
            await asyncio.sleep(0.3)
            assert not moving.done(), "the merge waits for the directory's change"
            await td.commit()
            await asyncio.wait_for(moving, 10)
            await tr.commit()
        else:
            await model._add_facts(referral, [_fact("f1", "routed", 1)])  # holds it FOR SHARE
            changing = asyncio.ensure_future(change(directory, env))
            await asyncio.sleep(0.3)
            assert not changing.done(), "the directory's change waits for the merge"
            await tr.commit()
            await asyncio.wait_for(changing, 10)
            await td.commit()
    assert await _kinds(pool) == {"ref-1": changed}


def _directory_event(provider_id: str, org_type: str) -> Envelope:
    return Envelope(
        id=str(uuid.uuid4()), source="safepath/referral",
        type="org.safepath.referral.ProviderUpdated.v1", subject="directory", time=T0,
        dataschema="urn:test", streamversion=10_000, correlationid="t",
        actor="service:referral", data={"provider": {"id": provider_id, "org_type": org_type}},
    )  # fmt: skip


async def test_the_upgrade_fills_the_kinds_on_the_rows_written_before_it(
    pool: asyncpg.Pool,
) -> None:
    """An installation upgraded past migrations 0030 and 0031: its facts and referral rows,
    written before the columns existed (NULL), carry their referral's last kind and their
    provider's kind from the migrations on, as the live path would have written them. (0031
    writes the referral table again: run whole here, on this test's own database.)"""
    await register_providers(pool)
    for spec in worlds(2):
        await write_world(pool, spec)
    tables = (model.FACT, model.REFERRAL)
    before = {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1") for t in tables}
    assert any(r["referral_kind"] for r in before[model.FACT])
    assert any(r["provider_type"] for r in before[model.REFERRAL])
    await pool.execute(f"UPDATE {model.FACT} SET referral_kind = NULL, referral_last_at = NULL")
    await pool.execute(f"UPDATE {model.REFERRAL} SET provider_type = NULL")
    fill = MIGRATION_0030[MIGRATION_0030.index("UPDATE") : MIGRATION_0030.index("-- The index")]
    await pool.execute(fill.replace("{schema}", '"case"'))
    await pool.execute(MIGRATION_0031.replace("{schema}", '"case"'))
    assert {t: await pool.fetch(f"SELECT * FROM {t} ORDER BY 1") for t in tables} == before
