"""Statistics speed (``make bench``; not a test): the read model's rebuild and the queries.

Generates N cases of real case events (opened, profile (with the incident for most mine/EO
survivors), a referral request for most, notes, then identification for some (weeks after
intake) and a closing for some (months after), so that cases change after the day read
``as_of``) straight into a fresh store, with correct hashes, then prints:
  * rebuild: ``safepath replay --service case --projection statistics``, after a
    CHECKPOINT (the generator's writes flushed first), events/s (and the CPU it took,
    the client's and, on a server of its own, the database's): the case events, and the
    referral service's events for shares of the needs (routed,
    accepted, started, completed) as the case service records them in its timeline on
    arrival, from which the replay derives the referral facts; both counted; and how long
    each phase took (``timed_phases``: the batches, the settle, the finish, each with the
    work beside it);
  * query: each typical question (national and regional, 12 months), best and median of 7;
    then a sample of the whole catalogue (``catalogue_sample``: every measure by the
    shapes it has of sex, region, month, need, outcome and provider's kind): how many of
    its questions' medians (of 5) are under 100 ms, and the slowest; and the same sample
    as the records stood a month before the period's end (``as_of``), with the typical
    questions; each asked 8 times on one connection, runs 6 to 8 also counted apart (a
    generic plan);
    cases opened by month and category also as it was read before migration 0020 (the
    whole of ``stat_case``, the index not used), and how each reads the table (its plan);
  * stat_case's COPY, side by side: the rebuilt rows COPYed again, in batches as the
    rebuild sends them, by the driver's encoding (``copy_records_to_table``, the code
    before ``shared/pgcopy.py``) and by ``shared/pgcopy.py``, alternated, 3 times each:
    client CPU and wall time, and whether both stored the same rows.
    python bench/statistics_model.py [--cases 100000] [--quick]   (quick: 10,000 cases)
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import random
import statistics as stats
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import asyncpg
from benchkit import BenchDatabase, machine, result

from services.case.app.statistics import model
from services.case.app.statistics.catalogue import MEASURES
from services.case.app.statistics.model import need_referral_id
from services.case.app.statistics.query import Question, Raw, _spread, answer, build_sql
from services.case.app.statistics.tables import publish
from services.case.projections import PROJECTIONS
from shared import pgcopy
from shared.digest import _content_digest, canonical_text, chain_hash
from shared.events.base import Event, Sealed
from shared.events.case import (
    CaseClosed,
    CaseNoteAdded,
    CaseOpened,
    ConsentScope,
    IdentificationRecorded,
    ReferralRequested,
    SurvivorProfile,
    SurvivorProfileRecorded,
)
from shared.events.case_facts import MineFacts
from shared.events.vocabulary import DISTRICTS, REGIONS
from shared.eventstore import EventStore
from shared.ids import uuid7
from shared.projections import Projection, rebuild

ACTOR = canonical_text({"actor": "caseworker:bench", "correlationid": "bench"})
SEALED = Sealed(kid="k", nonce="AAAAAAAAAAAAAAAA", ct="Y2lwaGVydGV4dA==")
T0 = datetime(2025, 12, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=365)  # the store's last instant: no event after it
COLUMNS = [
    "event_id", "stream_id", "stream_version", "event_type", "occurred_at", "data",
    "metadata", "prev_hash", "hash",
]  # fmt: skip
CONSENT = ConsentScope(
    consent_id="c1", service_types=["shelter"], provider_ids=[],
    data_categories=["needs", "demographics"], expires_at=None,
)  # fmt: skip


DEVICES = ["anti_personnel_mine", "anti_vehicle_mine", "unexploded_ordnance",
           "cluster_munition_remnant", "unknown"]  # fmt: skip


def case_events(rng: random.Random) -> list[tuple[Event, timedelta]]:
    """A case's events, each with its time after the opening: the intake's within minutes,
    the identification decision and the closing days to months later, as in life (so that
    at ``AS_OF`` some cases have changed since, and an ``as_of`` reading reads them as they
    stood: the work it does for a live store)."""
    region = rng.choice(REGIONS)
    cats = rng.choice([["trafficking"], ["mine_eo"], ["refugee_asylum"], ["trafficking"]])
    out: list[Event] = [CaseOpened(caseworker="bench", office=None, region=region,
                                   categories=cats)]  # fmt: skip
    # Most mine/EO survivors' profiles record the incident (a casualty: direct, or family
    # of a person killed or injured), so the casualty questions count real rows.
    mine = None
    if "mine_eo" in cats and rng.random() < 0.8:
        direct = rng.random() < 0.75
        mine = MineFacts(
            victim="direct" if direct else "indirect",
            outcome="injured" if direct else rng.choice(["killed", "injured"]),
            incident_district=rng.choice(DISTRICTS[region]),
            incident_year=rng.randrange(1995, 2026), device_type=rng.choice(DEVICES),
        )  # fmt: skip
    profile = SurvivorProfile(
        identifying=SEALED,
        age_band=rng.choice(["5-11", "12-17", "18-24", "25-39", "40-59", "60+"]),
        sex=rng.choice(["female", "male"]),
        disability=rng.random() < 0.2,
        citizenship_status=rng.choice(["citizen", "citizen", "foreign_national"]),
        language="tg",
        region=region,
        district=rng.choice(DISTRICTS[region]),
        categories=cats,
        mine_eo=mine,
    )
    out.append(SurvivorProfileRecorded(profile=profile))
    decision = None
    if rng.random() < 0.6:
        decision = IdentificationRecorded(
            status=rng.choice(["presumed", "identified"]), basis="indicators_present",
            deciding_agency="police")  # fmt: skip
    if rng.random() < 0.8:
        needs = rng.sample(["shelter", "medical", "psychosocial", "legal_aid", "livelihood"], 2)
        out.append(ReferralRequested(
            referral_id=str(uuid.uuid4()), needs=needs, urgency="routine", categories=cats,
            region=region, district=None, sex=profile.sex, age_band=profile.age_band,
            language="tg", disability=profile.disability, consent=CONSENT,
            emergency_without_consent=False, emergency_reason=None, note=None, office=None,
            caseworker="bench"))  # fmt: skip
    out += [CaseNoteAdded(note_id=f"n{i}", note=SEALED) for i in range(rng.randrange(3))]
    timed = [(e, timedelta(minutes=v)) for v, e in enumerate(out)]
    later = timedelta(hours=1)
    if decision is not None:  # decided some three weeks after intake, on average
        later += timedelta(days=rng.expovariate(1 / 20))
        timed.append((decision, later))
    if rng.random() < 0.3:  # closed one to four months after
        timed.append((CaseClosed(reason="services_completed"),
                      later + timedelta(days=rng.uniform(30, 120))))  # fmt: skip
    return timed


async def generate(pool: asyncpg.Pool, cases: int) -> tuple[int, int]:
    rng = random.Random(15)
    span = 365 * 24 * 3600
    batch: list[tuple[object, ...]] = []
    total = 0
    timeline: list[tuple[object, ...]] = []
    async with pool.acquire() as conn:
        for _ in range(cases):
            case_id = str(uuid.uuid4())
            at = T0 + timedelta(seconds=rng.randrange(span))
            prev: bytes | None = None
            for v, (ev, after) in enumerate(case_events(rng), start=1):
                eid, t = uuid7(), at + after
                if t >= NOW:
                    break  # not yet happened
                data = canonical_text(ev.model_dump(mode="json"))
                digest = _content_digest(eid, case_id, v, ev.type_name(), t, data, ACTOR)
                h = chain_hash(prev, digest)
                batch.append((eid, case_id, v, ev.type_name(), t, data, ACTOR, prev, h))
                prev = h
                if isinstance(ev, ReferralRequested):
                    timeline += received_events(rng, case_id, t, ev)
            if len(batch) >= 50_000:
                await conn.copy_records_to_table("event", schema_name="case", records=batch,
                                                 columns=COLUMNS)  # fmt: skip
                total += len(batch)
                batch = []
        if batch:
            await conn.copy_records_to_table("event", schema_name="case", records=batch,
                                             columns=COLUMNS)  # fmt: skip
            total += len(batch)
        await conn.copy_records_to_table("case_timeline", schema_name="case",
                                         records=timeline, columns=TIMELINE)  # fmt: skip
    return total, len(timeline)


TIMELINE = ["event_id", "case_id", "service", "event_type", "occurred_at", "actor",
            "stream_id", "stream_version", "data"]  # fmt: skip
# What the referral service reports for a requested need, as the case service records it
# in its timeline on arrival: routed always, then accepted (70 %), started (50 %) and
# completed (30 %), each after the one before. The timed rebuild derives the referral
# facts from these rows (``finish_rebuild``), as ``safepath replay`` does.
LIFECYCLE = (
    ("ReferralRouted.v2", timedelta(minutes=1), 1.0),
    ("ReferralAccepted.v1", timedelta(hours=5), 0.7),
    ("ServiceStarted.v1", timedelta(hours=30), 0.5 / 0.7),
    ("ServiceCompleted.v1", timedelta(days=20), 0.3 / 0.5),
)


def received_events(
    rng: random.Random, case_id: str, at: datetime, request: ReferralRequested
) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for need in request.needs:
        referral_id = need_referral_id(uuid.UUID(request.referral_id).bytes, need)
        provider = f"p{rng.randrange(40)}"
        for version, (name, after, share) in enumerate(LIFECYCLE, start=1):
            if rng.random() >= share:
                break
            data: dict[str, object] = {"case_id": case_id, "referral_id": referral_id,
                                       "provider_id": provider}  # fmt: skip
            if version == 1:
                data |= {"need": need, "attempt": 1}
            rows.append((uuid7(), case_id, "referral", f"org.safepath.referral.{name}",
                         at + after, "system:referral", f"referral-{referral_id}", version,
                         canonical_text(data)))  # fmt: skip
    return rows


# The directory events the case service would have kept (migration 0017): ``finish_rebuild``
# fills ``stat_provider`` from them.
PROVIDERS = """INSERT INTO "case".received_directory_event (provider_id, version, org_type)
    SELECT 'p' || i, 1, (ARRAY['ngo','government','international'])[1 + i % 3]
    FROM generate_series(0, 39) i"""

QUESTIONS = {
    "cases_opened age_band x sex": ("cases_opened", "age_band", "sex", {}, None),
    "cases_opened district, trafficking": ("cases_opened", "district", None,
                                           {"category": "trafficking"}, None),
    "cases_opened month x category": ("cases_opened", "month", "category", {}, None),
    "cases_active region x identification": ("cases_active", "region", "identification", {},
                                             None),
    "referrals need x outcome": ("referrals", "need", "outcome", {}, None),
    "services_completed need x provider_type": ("services_completed", "need", "provider_type",
                                                {}, None),
    "time_to_service_start need": ("time_to_service_start", "need", None, {}, None),
    "cases_opened age_band x sex, region khatlon": ("cases_opened", "age_band", "sex", {},
                                                    "khatlon"),
}  # fmt: skip


AS_OF = date(2026, 10, 31)  # a month before the period's end: the records as they stood


def catalogue_sample(as_of: date | None = None) -> dict[str, Question]:
    """Beyond the typical questions: every measure by sex, by region and sex, by month and,
    where it has referral dimensions, by need, need and sex, outcome, outcome and
    identification, provider's kind, provider's kind and sex, and provider's kind by month
    (over the same 12 months), so that the share under 100 ms covers the catalogue, not
    only its cheap questions; and the same as the records stood at ``as_of``. (Until the
    sixteenth round the outcome and the provider's kind were four questions apart, as of
    the day only, and the slowest of the catalogue.)"""
    shapes = [("sex", None), ("region", "sex"), ("month", None), ("need", None), ("need", "sex"),
              ("outcome", None), ("outcome", "identification"), ("provider_type", None),
              ("provider_type", "sex"), ("provider_type", "month")]  # fmt: skip
    sample = {}
    for name, m in MEASURES.items():
        for rows, columns in shapes:
            if all(d in m.dimensions for d in (rows, columns) if d is not None):
                sample[f"{name} {rows}{f' x {columns}' if columns else ''}"] = Question(
                    name, rows, columns, date(2025, 12, 1), date(2026, 11, 1), as_of
                )
    return sample


async def _no_index(conn: asyncpg.Connection) -> None:
    """This transaction's plans read whole tables (as before migration 0020)."""
    for scan in ("indexscan", "indexonlyscan", "bitmapscan"):
        await conn.execute(f"SET LOCAL enable_{scan} = off")


async def _scans(pool: asyncpg.Pool, q: Question, whole: bool) -> str:
    """How the question reads ``stat_case`` (the plan's scan), as asked or the whole table."""
    sql, args = build_sql(q)
    async with pool.acquire() as conn, conn.transaction():
        if whole:
            await _no_index(conn)
        plan = [r[0] for r in await conn.fetch(f"EXPLAIN {sql}", *args)]
    return ", ".join(sorted({line.split("->")[-1].split("  (")[0].strip() for line in plan
                             if " Scan " in line}))  # fmt: skip


async def _whole_table(pool: asyncpg.Pool, q: Question) -> Raw:
    """The answer as it was read before migration 0020 indexed the cases opened: the whole
    of ``stat_case`` scanned, every case's history with it (side by side with the index)."""
    sql, args = build_sql(q)
    # A statement of its own (the comment): a plan the driver cached for the question
    # itself would use the index whatever these settings say.
    sql = f"{sql} /* the whole table */"
    async with pool.acquire() as conn, conn.transaction():
        await _no_index(conn)
        return Raw(_spread(q, await conn.fetch(sql, *args)))


async def _timed(
    pool: asyncpg.Pool | asyncpg.Connection,
    q: Question,
    runs: int,
    ask: Callable[..., Awaitable[Raw]] = answer,
) -> list[float]:
    """Milliseconds of each of ``runs`` answers to ``q``, published (suppression, shaping)."""
    timings = []
    for _ in range(runs):
        t = time.perf_counter()
        publish(q, await ask(pool, q), 5)
        timings.append((time.perf_counter() - t) * 1000)
    return timings


def timed_phases(projection: Projection) -> tuple[Projection, list[tuple[str, float, float]]]:
    """``projection`` with each batch's fold, the received facts derived beside the batches,
    the settle and the finish timed (name, start, end: ``time.perf_counter``)."""
    spans: list[tuple[str, float, float]] = []

    def timing(name: str, work: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def timed(*args: object) -> None:
            start = time.perf_counter()
            try:
                await work(*args)
            finally:
                spans.append((name, start, time.perf_counter()))

        return timed

    batches, alongside = projection.rebuild, projection.alongside
    settle, finish = projection.settle, projection.finish
    assert batches is not None and alongside and settle and finish
    return replace(
        projection,
        rebuild=replace(batches, fold=timing("fold", batches.fold)),
        alongside=timing("alongside", alongside),
        settle=timing("settle", settle),
        finish=timing("finish", finish),
    ), spans


def phase_walls(
    spans: list[tuple[str, float, float]], start: float, end: float
) -> dict[str, float]:
    """Seconds of each phase of a rebuild (``shared/projections.py``): the batches (with the
    received facts derived beside them: ``alongside``), the settle beside ``stat_case``'s
    indexes, the finish beside ``stat_fact``'s; and of the three works themselves."""
    first = {name: min(a for n, a, _ in spans if n == name) for name, _, _ in spans}
    last = {name: max(b for n, _, b in spans if n == name) for name, _, _ in spans}
    return {
        "batches": last["fold"] - start,
        "alongside": last["alongside"] - first["alongside"],
        "settle_phase": first["finish"] - first["settle"],
        "settle": last["settle"] - first["settle"],
        "finish_phase": end - first["finish"],
        "finish": last["finish"] - first["finish"],
    }


COPY_BATCH = 17_000  # about one rebuild batch's stat_case rows (50,000 events)


async def copy_side_by_side(pool: asyncpg.Pool) -> tuple[int, dict[str, list[float]], bool]:
    """The rebuilt ``stat_case`` rows, as dicts (as the fold hands them over), COPYed into
    empty tables of the same columns by each encoder in turn: client CPU and wall time per
    round, and whether both tables hold the same rows."""
    columns = model._ROW
    found = await pool.fetch(
        f"SELECT {', '.join(columns)} FROM {model.CASE} ORDER BY case_id, version"
    )
    records = [dict(r) for r in found]
    as_tuples = operator.itemgetter(*columns)  # what the fold did for the driver before
    encoder = pgcopy.Encoder(model._ENCODE_CASE_KINDS, keys=columns)
    times: dict[str, list[float]] = {"driver": [], "pgcopy": [], "driver_wall": [],
                                     "pgcopy_wall": []}  # fmt: skip
    async with pool.acquire() as conn:
        for name in ("driver", "pgcopy"):
            await conn.execute(
                f"CREATE TEMP TABLE copied_{name} AS SELECT {', '.join(columns)}"
                f" FROM {model.CASE} WITH NO DATA"
            )
        for name in ("driver", "pgcopy", "pgcopy", "driver", "driver", "pgcopy"):
            await conn.execute(f"TRUNCATE copied_{name}")
            cpu, wall = time.process_time(), time.perf_counter()
            for start in range(0, len(records), COPY_BATCH):
                batch = records[start : start + COPY_BATCH]
                if name == "driver":
                    await conn.copy_records_to_table(
                        f"copied_{name}", records=list(map(as_tuples, batch)), columns=columns
                    )
                else:
                    await pgcopy.copy(conn, f"copied_{name}", columns, batch, encoder)
            times[name].append(time.process_time() - cpu)
            times[f"{name}_wall"].append(time.perf_counter() - wall)
        same = await conn.fetchval(
            "SELECT (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM copied_driver t)"
            " = (SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM copied_pgcopy t)"
        )
    return len(records), times, bool(same)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--quick", action="store_true", help="10,000 cases")
    args = ap.parse_args()
    if args.quick:
        args.cases = 10_000
    print(machine())  # the load average as the run begins (a loaded machine: see docs)
    bench = await BenchDatabase.start()
    pool = bench.pool
    rows: list[tuple[str, float, float]] = []
    try:
        t = time.perf_counter()
        events, received = await generate(pool, args.cases)
        print(f"generated {args.cases:,} cases, {events:,} events and {received:,} received"
              f" referral events in {time.perf_counter() - t:.1f} s")  # fmt: skip
        await pool.execute(PROVIDERS)
        await pool.execute('VACUUM ANALYZE "case".event')
        await pool.execute('VACUUM ANALYZE "case".case_timeline')
        # The generator's writes flushed before the clock starts (as ``bench/append.py``
        # does before each turn): a checkpoint they left due would fall inside the rebuild
        # and be charged to it. The rebuild's own checkpoints still fall inside it.
        try:
            await pool.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError:  # a server of one's own, not superuser
            print("no CHECKPOINT before the rebuild (not allowed on this server)")
        # Timed: the case events folded, then (``finish_rebuild``, as ``safepath replay``
        # runs it) the referral facts derived from the received events, the referral rows.
        # Its CPU too, the client's and the database's: a steadier figure than the rate,
        # which follows the VM's speed from one run to the next (docs/statistics.md, Speed).
        cpu, db_cpu, t = time.process_time(), bench.server_cpu_seconds(), time.perf_counter()
        timed, spans = timed_phases(PROJECTIONS["statistics"])
        n = await rebuild(EventStore(pool, "case"), timed, fresh=True)
        rebuild_end = time.perf_counter()
        rebuild_rate = (n + received) / (rebuild_end - t)
        phases = phase_walls(spans, t, rebuild_end)
        rebuild_cpu = time.process_time() - cpu
        after = bench.server_cpu_seconds()
        rebuild_db_cpu = None if after is None or db_cpu is None else after - db_cpu
        for table in ("stat_fact", "stat_case", "stat_referral", "stat_provider"):
            await pool.execute(f'VACUUM ANALYZE "case".{table}')  # as autovacuum would
        facts = await pool.fetchval('SELECT count(*) FROM "case".stat_fact')
        print(f"read model: {facts:,} facts")
        for label, (measure, r, c, filters, scope) in QUESTIONS.items():
            q = Question(measure, r, c, date(2025, 12, 1), date(2026, 11, 1), None, filters,
                         scope)  # fmt: skip
            asked = [(label, q, answer)]
            if label == "cases_opened month x category":  # and as it was read before 0020
                asked.append((f"{label} (before: the whole table read)", q, _whole_table))
            for shown, question, ask in asked:
                timings = await _timed(pool, question, 7, ask)
                rows.append((shown, min(timings), stats.median(timings)))
        sampled: list[tuple[float, str]] = []
        sampled_as_of: list[tuple[float, str]] = []
        # As the records stood: the sample and the typical questions (the outcome and the
        # provider's kind fold the referrals with a fact since again).
        then = catalogue_sample(AS_OF) | {
            f"typical: {label}": Question(m, r, c, date(2025, 12, 1), date(2026, 11, 1), AS_OF,
                                          filters, scope)
            for label, (m, r, c, filters, scope) in QUESTIONS.items()
        }  # fmt: skip
        # Each question eight times on one connection, as a service's connection asks it
        # again and again: the first five runs as before, and runs six to eight apart,
        # when PostgreSQL may have kept a generic plan for the prepared statement
        # (``query._fetch``; docs/statistics.md, "Speed", fifteenth round).
        late: list[tuple[float, str]] = []
        async with pool.acquire() as conn:
            for into, asked in ((sampled, catalogue_sample()), (sampled_as_of, then)):
                for label, q in asked.items():
                    timings = await _timed(conn, q, 8)
                    into.append((stats.median(timings[:5]), label))
                    as_of = "" if q.as_of is None else f" as of {q.as_of}"
                    late.append((stats.median(timings[5:]), f"{label}{as_of}"))
        # After the questions, which it would otherwise precede with 580,000 rows written.
        month = Question("cases_opened", "month", "category", date(2025, 12, 1),
                         date(2026, 11, 1))  # fmt: skip
        plans = [await _scans(pool, month, whole) for whole in (False, True)]
        casualties = Question("casualties", "sex", None, date(2025, 12, 1), date(2026, 11, 1))
        casualty_plan = await _scans(pool, casualties, False)  # the index of 0023
        same_month = await answer(pool, month) == await _whole_table(pool, month)
        copied, copy_times, same_rows = await copy_side_by_side(pool)
    finally:
        await bench.stop()
    print(machine())  # and as it ends
    print("| measure | result | target |")
    print("|---|---:|---:|")
    print(f"| rebuild statistics from {n:,} case events and {received:,} received events"
          f" ({args.cases:,} cases) |"
          f" {rebuild_rate:,.0f} events/s | >= 50,000 events/s |")  # fmt: skip
    db = (
        "not measured (a server named by the environment)"
        if rebuild_db_cpu is None
        else f"database {rebuild_db_cpu:.1f} s"
    )
    print(f"| the rebuild's CPU | client {rebuild_cpu:.1f} s, {db} | |")
    print(f"| the rebuild's phases | the batches {phases['batches']:.1f} s (the received facts"
          f" derived beside them {phases['alongside']:.1f} s), the settle and stat_case's"
          f" indexes {phases['settle_phase']:.1f} s (the settle {phases['settle']:.1f} s), the"
          f" referral fold and stat_fact's indexes {phases['finish_phase']:.1f} s (the fold"
          f" {phases['finish']:.1f} s) | |")  # fmt: skip
    for label, best, median in rows:
        print(f"| {label}, {args.cases:,} cases | {best:.0f} ms best, {median:.0f} ms median"
              " | < 100 ms |")  # fmt: skip
    under = sum(ms < 100 for ms, _ in sampled)
    print(f"| the catalogue sample: medians under 100 ms | {under} of {len(sampled)} questions"
          " | all |")  # fmt: skip
    slowest = ", ".join(f"{label} {ms:.0f} ms" for ms, label in sorted(sampled)[::-1][:8])
    print(f"| the sample's slowest (medians of 5) | {slowest} | |")
    under_as_of = sum(ms < 100 for ms, _ in sampled_as_of)
    print(f"| the sample and the typical questions as of {AS_OF}: medians under 100 ms"
          f" | {under_as_of} of"
          f" {len(sampled_as_of)} questions | all |")  # fmt: skip
    slowest = ", ".join(f"{label} {ms:.0f} ms" for ms, label in sorted(sampled_as_of)[::-1][:8])
    print(f"| its slowest (medians of 5) | {slowest} | |")
    under_late = sum(ms < 100 for ms, _ in late)
    print(f"| both, runs 6 to 8 of each on one connection: medians under 100 ms | {under_late}"
          f" of {len(late)} questions | all |")  # fmt: skip
    slowest = ", ".join(f"{label} {ms:.0f} ms" for ms, label in sorted(late)[::-1][:8])
    print(f"| their slowest (medians of runs 6 to 8) | {slowest} | |")
    print(f"| cases_opened month x category, read by | {plans[0]} | |")
    print(f"| the same, before: the whole table read, by | {plans[1]} | |")
    print(f"| both read the same answer | {'yes' if same_month else 'NO'} | yes |")
    print(f"| casualties by sex, read by | {casualty_plan} | |")
    for name, label in (("driver", "the driver's encoding"), ("pgcopy", "shared/pgcopy.py")):
        cpu, wall = copy_times[name], copy_times[f"{name}_wall"]
        print(f"| stat_case COPY of {copied:,} rows, {label} | client CPU"
              f" {stats.median(cpu):.2f} s median ({min(cpu):.2f} to {max(cpu):.2f}), wall"
              f" {stats.median(wall):.2f} s | |")  # fmt: skip
        result("statistics", "copy_client_cpu_s", stats.median(cpu), "s", encoder=name,
               rows=copied)  # fmt: skip
    print(f"| stat_case COPY: both encoders stored the same rows | {'yes' if same_rows else 'NO'}"
          " | yes |")  # fmt: skip
    result("statistics", "rebuild_events_per_s", rebuild_rate, "events/s", cases=args.cases)
    result("statistics", "rebuild_cpu_s", rebuild_cpu, "s", side="client", cases=args.cases)
    for phase, seconds in phases.items():
        result("statistics", "rebuild_phase_s", seconds, "s", phase=phase, cases=args.cases)
    if rebuild_db_cpu is not None:
        result("statistics", "rebuild_cpu_s", rebuild_db_cpu, "s", side="database",
               cases=args.cases)  # fmt: skip
    for label, _, median in rows:
        result("statistics", f"query_ms.{label}", median, "ms", cases=args.cases)
    result("statistics", "sample_under_100ms", under, "questions", of=len(sampled))
    for ms, label in sampled:
        result("statistics", f"sample_ms.{label}", ms, "ms", cases=args.cases)
    result("statistics", "sample_as_of_under_100ms", under_as_of, "questions",
           of=len(sampled_as_of), as_of=str(AS_OF))  # fmt: skip
    for ms, label in sampled_as_of:
        result("statistics", f"sample_as_of_ms.{label}", ms, "ms", cases=args.cases)
    result("statistics", "sample_late_under_100ms", under_late, "questions", of=len(late))
    for ms, label in late:
        result("statistics", f"sample_late_ms.{label}", ms, "ms", cases=args.cases)


if __name__ == "__main__":
    asyncio.run(main())
