"""One statistics question to SQL over the read model, and its raw answer (per cell).

The answer is unsuppressed: ``tables.publish`` applies the small-cell rule before anything
leaves the service. Scope (a regional role's region) is decided on each case's region as
it stands now, whatever ``as_of`` reads (docs/security.md: never scope on a past state).
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import asyncpg

from services.case.app.statistics.catalogue import (
    CASE_DIMENSIONS,
    LIST_DIMENSIONS,
    MEASURES,
    MINE_DIMENSIONS,
    Measure,
    month_starts,
)
from services.case.app.statistics.model import (
    CARRIED,
    CASE,
    CASUALTY_RECORD,
    FACT,
    PROVIDER,
    REFERRAL,
    REFERRAL_COLUMNS,
    last_kind_as_of,
    provider_as_of,
)

CHILD_BANDS = ("0-4", "5-11", "12-17")
TOTAL = "\x00total"  # the key of a margin in ``Raw.durations`` (no dimension value has it)


@dataclass(frozen=True)
class Question:
    """A validated question (the route checks the input; this trusts it)."""

    measure: str
    rows: str | None
    columns: str | None
    first_month: date  # the period: whole months, first..last inclusive
    last_month: date
    as_of: date | None = None  # read as the records stood at the end of this day (UTC)
    filters: Mapping[str, str] = field(default_factory=dict)
    region_scope: str | None = None  # only cases (now) in this region

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_month, time(), UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: the first instant after the period."""
        last = month_starts(self.last_month, self.last_month)[0]
        nxt = date(last.year + last.month // 12, last.month % 12 + 1, 1)
        return datetime.combine(nxt, time(), UTC)

    @property
    def as_of_instant(self) -> datetime | None:
        if self.as_of is None:
            return None
        return datetime.combine(self.as_of + timedelta(days=1), time(), UTC)

    @property
    def dimensions(self) -> tuple[str, ...]:
        return tuple(d for d in (self.rows, self.columns) if d is not None)


@dataclass(frozen=True)
class Raw:
    """Per (row value, column value): a count, or the durations' (n, median, p90)."""

    counts: dict[tuple[str, str], int]
    durations: dict[tuple[str, str], tuple[int, float | None, float | None]] | None = None


_PERIOD_FORMAT = {"month": "YYYY-MM", "quarter": 'YYYY-"Q"Q', "year": "YYYY"}
_OUTCOME = """CASE r.last_kind WHEN 'routed' THEN 'awaiting_answer'
    WHEN 'unroutable' THEN 'unroutable' WHEN 'accepted' THEN 'accepted'
    WHEN 'declined' THEN 'declined' WHEN 'escalated' THEN 'escalated'
    WHEN 'service_started' THEN 'in_service' WHEN 'service_completed' THEN 'completed'
    WHEN 'outcome_recorded' THEN 'completed' WHEN 'withdrawn' THEN 'withdrawn'
    WHEN 'unmet' THEN 'unmet' ELSE 'requested' END"""


# A list dimension's value in a row per value (``unnest``), where a question needs one.
_ALIAS = {"category": "cat", "exploitation_form": "form"}


def _expression(dimension: str) -> str:
    if dimension in LIST_DIMENSIONS:
        return _ALIAS[dimension]
    if dimension == "child":
        bands = ", ".join(f"'{b}'" for b in CHILD_BANDS)
        return (
            f"CASE WHEN c.age_band IN ({bands}) THEN 'child'"
            " WHEN c.age_band = 'unknown' THEN 'unknown' ELSE 'adult' END"
        )
    if dimension in _PERIOD_FORMAT:
        return f"to_char(t_at AT TIME ZONE 'UTC', '{_PERIOD_FORMAT[dimension]}')"
    if dimension == "need":
        return "coalesce(need_of, 'unknown')"
    if dimension == "provider_type":
        return "CASE WHEN p_id IS NULL THEN 'none' ELSE coalesce(p_type, 'unknown') END"
    if dimension == "decision":
        return "t.detail"
    if dimension == "stage":
        return "replace(t.kind, 'reflection_', '')"
    if dimension == "service_outcome":
        return "t.detail"
    if dimension in ("device", "device_action"):  # an assistive device fact: "device/action"
        return f"split_part(t.detail, '/', {1 if dimension == 'device' else 2})"
    if dimension in _LINKED:  # the profile's incident, else the relative killed's record
        return f"CASE WHEN {_BY_LINK} THEN {_LINKED[dimension]} ELSE c.{dimension} END"
    if dimension == "outcome":
        return _OUTCOME
    return f"c.{dimension}"


# A case whose profile records no incident but whose person is family of a person killed
# (``CasualtyLinked``): an indirect victim, with the incident of the record (``k``).
_BY_LINK = "c.casualty = 'none' AND c.relative_killed <> 'none'"
_LINKED = {
    "victim": "'indirect'",
    "casualty": "'killed'",
    "device_type": "coalesce(k.device_type, 'unknown')",
    "incident_year": "coalesce(k.incident_year, 'unknown')",
    "incident_district": "coalesce(k.incident_district, 'unknown')",
}
_RECORD_DIMENSIONS = ("device_type", "incident_year", "incident_district")


def _bind(dimension: str, t_at: str, p_id: str, need_of: str) -> str:
    # The provider's kind: the one a referral row carries (migration 0031), or for a fact's
    # own provider, the directory's (joined as ``p``).
    p_type = "r.provider_type" if p_id == "r.provider_id" else "p.org_type"
    return (
        _expression(dimension)
        .replace("t_at", t_at)
        .replace("p_id", p_id)
        .replace("need_of", need_of)
        .replace("p_type", p_type)
    )


class _Args:
    def __init__(self) -> None:
        self.values: list[Any] = []

    def add(self, value: Any) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


def _snapshot(args: _Args, at: datetime | None) -> str:
    """``stat_case`` rows as each case stood just before ``at`` (None: now)."""
    if at is None:
        return f"SELECT * FROM {CASE} WHERE valid_to IS NULL"
    a = args.add(at)
    return (
        f"SELECT * FROM {CASE} WHERE valid_from < {a}::timestamptz"
        f" AND (valid_to IS NULL OR valid_to >= {a}::timestamptz)"
    )


def first_as_of(column: str, at: str | None) -> str:
    """A referral's first request, routing, answer or start of service (``r.column``) as it
    stood before the instant ``at`` (SQL; None: now): each is the earliest of its facts of
    those kinds, so it is the one it has now if that came before, else none (an earliest
    fact came before an instant exactly when the earliest of all did). Its need is fixed by
    its id (the per-need id of its request)."""
    if at is None:
        return f"r.{column}"
    return f"CASE WHEN r.{column} < {at} THEN r.{column} END"


def _cases_since(
    args: _Args, until: datetime, asked: tuple[str, ...], kept: tuple[str, ...] = CARRIED
) -> str:
    """The cases that changed since ``until`` and whose ``asked`` columns were not then
    what they are now, each with its dimensions as they stood then. Every other case stood
    as it stands now, as far as the question can tell, as its facts and referral rows
    carry it. A case's row then is the one that began before the instant and ended at or
    after it (``_changed_since``); a case opened since had none (its first row begins at
    its opening): its rows are not counted (``build_sql``)."""
    dims = ", ".join(f"s.{x}" for x in dict.fromkeys(kept))
    then, now = (", ".join(f"{row}.{x}" for x in asked) for row in ("s", "l"))
    return f"""SELECT s.case_id, {dims} FROM {_changed_since(args, until)}
        AND ROW({then}) IS DISTINCT FROM ROW({now})"""


def _changed_since(args: _Args, until: datetime) -> str:
    """The rows ``s`` of the cases that changed since ``until``, as they stood then, each
    with the case's current row ``l`` (SQL, from ``FROM`` on, its ``WHERE`` open to more
    conditions). Both from indexes alone, of the rows that ended and of the current rows by
    their start (migration 0026): few, for a recent day."""
    at = f"{args.add(until)}::timestamptz"
    return f"""{CASE} s JOIN {CASE} l
            ON l.case_id = s.case_id AND l.valid_to IS NULL AND l.valid_from >= {at}
        WHERE s.valid_to >= {at} AND s.valid_from < {at}"""


# What a count of cases opened reads of a case's row: its opening month and every case
# dimension (all in the index of the cases opened, migration 0024).
_OPENED_READ = (
    "opened_month",
    "categories",
    *(x for x in CARRIED if x not in ("categories", "opened_at")),
)


def _opened_as_of(args: _Args, until: datetime) -> str:
    """The cases (not a person killed's record) as they stood just before ``until``, each
    with its region now (``region_now``, for a scope). A case whose current row began
    before that instant stood as it stands: read from the index of the cases opened, which
    holds each row's start (migration 0024), instead of every row of every case's history.
    The few whose current row began since but that were opened before, as they stood
    (``_changed_since``). A case opened since had no row then (its first row begins at its
    opening): in neither part."""
    at = f"{args.add(until)}::timestamptz"
    read = ", ".join(_OPENED_READ)
    then = ", ".join(f"s.{x}" for x in _OPENED_READ)
    return f"""SELECT {read}, region AS region_now FROM {CASE}
            WHERE valid_to IS NULL AND status <> '{CASUALTY_RECORD}' AND valid_from < {at}
        UNION ALL
        SELECT {then}, l.region FROM {_changed_since(args, until)}
            AND s.status <> '{CASUALTY_RECORD}'"""


def build_sql(q: Question) -> tuple[str, list[Any]]:
    """The SQL answering ``q``: rows of (row value, column value, n[, the cell's hours])."""
    m: Measure = MEASURES[q.measure]
    args = _Args()
    until = q.as_of_instant
    # (A fact carries what it needs of its referral: ``t`` below.)
    needs_referral = m.base in ("referral", "duration") or (
        m.base != "fact"
        and any(d in ("need", "provider_type", "outcome") for d in (*q.dimensions, *q.filters))
    )
    # A question about referrals or facts reads the case's row only for a case dimension or
    # filter, a region scope or an as_of reading. Else the join would keep every row (a
    # referral is requested on a case, opened first; a fact is about a case) and would be
    # most of the question's time.
    reads_case = (
        until is not None
        or q.region_scope is not None
        or any(d in (*CASE_DIMENSIONS, *MINE_DIMENSIONS) for d in (*q.dimensions, *q.filters))
    )
    ctes: list[str] = []
    where: list[str] = []
    firsts_at: str | None = None  # the instant a referral's firsts are read at (as_of)
    # The case's dimensions as they stand now are on each fact and referral row (migration
    # 0021): such a question reads that table alone, its row seen as ``c`` (a subquery of
    # the row's own columns, which the planner folds away), instead of a join to the
    # cases' rows; at ``as_of``, corrected for the few cases that changed since, read as
    # they stood (``corrected``). Not for a dimension not carried (the casualty facts).
    carried = (
        reads_case
        and m.base in ("fact", "referral", "duration")
        and all(
            d not in (*CASE_DIMENSIONS, *MINE_DIMENSIONS)
            or LIST_DIMENSIONS.get(d, "age_band" if d == "child" else d) in CARRIED
            for d in (*q.dimensions, *q.filters)
        )
    )
    own = "t" if m.base == "fact" else "r"  # the fact or referral rows' alias
    stood = carried and corrected(q)
    # Referrals or durations by their outcome or provider's kind and by a case dimension,
    # as of a day: one correction for the referrals with a fact since and for those of the
    # cases changed since, together (``_moved``): each read once, with only the columns
    # asked (docs/statistics.md, "Speed", fifteenth round).
    together = stood and m.base in ("referral", "duration") and reads_moved(q)
    # Cases opened at ``as_of`` by case dimensions: read as they stand where they have not
    # changed since, from the index of the cases opened (``_opened_as_of``).
    opened_then = (
        m.base == "opened"
        and m.name != "casualties"
        and until is not None
        and all(d in (*CASE_DIMENSIONS, *_PERIOD_FORMAT) for d in q.dimensions)
        and all(d in CASE_DIMENSIONS for d in q.filters)
    )
    if m.base == "active":
        at = q.end if until is None else min(q.end, until)
        ctes.append(f"c AS ({_snapshot(args, at)})")
        source = "c"
        t_at = "c.opened_at"
        where += ["c.status = 'open'"]
    else:
        if opened_then:
            assert until is not None
            ctes.append(f"c AS ({_opened_as_of(args, until)})")
        elif not carried:
            ctes.append(f"c AS ({_snapshot(args, until)})")
        elif until is None:  # a row written when its case had no row: not counted, as the
            where.append(f"{own}.region IS NOT NULL")  # join did not count it
        else:  # nor one whose case had no row then (a case's first row begins at its
            # opening, carried; NULL: no row)
            where.append(f"{own}.opened_at < {args.add(until)}::timestamptz")
        if stood:
            assert until is not None
            asked = _asked_columns(q)
            kept = asked if together else CARRIED  # what the correction reads of them
            ctes.append(f"stood AS MATERIALIZED ({_cases_since(args, until, asked, kept)})")
        # (Not when every branch reads the referrals' rows as they stand or from ``moved``.)
        if needs_referral and not (reads_moved(q) and m.base in ("referral", "duration")):
            # (Never by its outcome or provider as of a day: those read ``moved`` below.)
            ctes.append(f"r AS NOT MATERIALIZED (SELECT * FROM {REFERRAL})")
        # At ``as_of``, the referral's own row with its firsts as they stood (the last one
        # counted, ``t_at``, kept by a plain comparison the planner can estimate).
        if until is not None and m.base in ("referral", "duration"):
            firsts_at = f"{args.add(until)}::timestamptz"
        if m.base == "referral":
            # When it was requested (a plain column: the planner's estimate of the period's
            # share stays right, and it joins by hash instead of a loop per referral).
            t_at = "r.requested_at"
            source = _with_case("r", reads_case, carried)
        elif m.base == "duration":
            assert m.duration is not None
            frm, to = m.duration
            t_at = f"r.{to}"
            source = _with_case("r", reads_case, carried)
            since = coalesce_from(frm, firsts_at)
            where.append(f"r.{to} IS NOT NULL AND {since} IS NOT NULL")
        elif m.base == "opened":  # the opening is on the case's row: no join
            t_at = "c.opened_at"
            source = "c"
            if needs_referral:
                raise ValueError("cases opened have no referral dimensions")
        else:
            kinds = m.kinds
            kind_args = args.add(list(kinds))
            until_sql = "" if until is None else f" AND f.at < {args.add(until)}::timestamptz"
            dims = "".join(f", f.{x}" for x in CARRIED) if carried else ""
            # A fact carries its need, its referral's last kind (its outcome) as it stands
            # and its instant (model.py), and names its own provider: no referral row is
            # read. As of a day, the outcome as it stood: looked up for the few facts whose
            # referral has a fact since (docs/statistics.md, "Speed", seventeenth round).
            kind = "f.referral_kind"
            if outcome_looked_up(q):
                kind = last_kind_as_of(f"{args.add(until)}::timestamptz", "f", carried=True)
            ctes.append(
                f"""t AS NOT MATERIALIZED (SELECT f.case_id, f.at, f.referral_id,
                    f.provider_id, f.detail, f.kind, f.need, {kind} AS referral_kind{dims}
                    FROM {FACT} f WHERE f.kind = ANY({kind_args}::text[]){until_sql})"""
            )
            t_at = "t.at"
            source = _with_case("t", reads_case, carried)
        if m.base == "opened":
            # The period is whole months in UTC, so a case opened in it is one whose stored
            # opening month (migration 0013, UTC) is in it: the index of the cases opened
            # (migration 0020) reads just those, in month order.
            start, end = (args.add(at.replace(tzinfo=None)) for at in (q.start, q.end))
            where.append(
                f"c.opened_month >= {start}::timestamp AND c.opened_month < {end}::timestamp"
            )
        else:
            start, end = args.add(q.start), args.add(q.end)
            where.append(f"{t_at} >= {start}::timestamptz AND {t_at} < {end}::timestamptz")
            if firsts_at is not None:  # what ``first_as_of`` gives it, where it is counted
                where.append(f"{t_at} < {firsts_at}")
    if m.name == "casualties":  # survivors' cases with an incident, and persons killed
        # read by the index of these rows (migration 0023: the same condition, word for word)
        where.append("(c.casualty <> 'none' OR c.relative_killed <> 'none')")
        if any(d in _RECORD_DIMENSIONS for d in (*q.dimensions, *q.filters)):
            source += f" LEFT JOIN {CASE} k ON k.case_id = c.relative_killed AND k.valid_to IS NULL"
    elif m.base == "opened" and not opened_then:  # a person killed has a record, not a case
        where.append(f"c.status <> '{CASUALTY_RECORD}'")
    # A fact's own provider (the one escalated, the one serving); else the referral's last.
    on_fact = source == "t" or source.startswith("t ")
    p_id, need_of = ("t.provider_id", "t.need") if on_fact else ("r.provider_id", "r.need")
    if on_fact and any(d == "provider_type" for d in (*q.dimensions, *q.filters)):
        source += f" LEFT JOIN {PROVIDER} p ON p.provider_id = {p_id}"
    for dimension, column in LIST_DIMENSIONS.items():  # once per category (form) it has
        if _lateral(q, dimension):
            source += f" CROSS JOIN LATERAL unnest(c.{column}) AS {_ALIAS[dimension]}"
    if m.base == "active":  # the period's end is the moment read; its start plays no part
        where.append(f"c.opened_at < {args.add(q.end)}::timestamptz")
    for dimension, value in sorted(q.filters.items()):
        if dimension in LIST_DIMENSIONS and not _lateral(q, dimension):
            where.append(f"{args.add(value)} = ANY(c.{LIST_DIMENSIONS[dimension]})")  # no row each
        else:
            where.append(f"{_bind(dimension, t_at, p_id, need_of)} = {args.add(value)}")
    if q.region_scope is not None and carried:  # the region it carries: the case's now
        where.append(f"{own}.region = {args.add(q.region_scope)}")
    elif q.region_scope is not None and opened_then:  # the region each case has now
        where.append(f"c.region_now = {args.add(q.region_scope)}")
    elif q.region_scope is not None and until is None and m.base != "active":
        where.append(f"c.region = {args.add(q.region_scope)}")  # c is the case as it is now
    elif q.region_scope is not None:
        where.append(
            f"EXISTS (SELECT 1 FROM {CASE} s WHERE s.case_id = c.case_id"
            f" AND s.valid_to IS NULL AND s.region = {args.add(q.region_scope)})"
        )
    row, col = (_group_key(q, d, t_at, p_id, need_of) for d in (q.rows, q.columns))
    measure = "count(*)"
    if m.base == "duration":
        assert m.duration is not None
        frm, to = m.duration
        # ``date_part`` is double precision (``extract`` is numeric, several times as costly
        # per row).
        hours = f"date_part('epoch', r.{to} - {coalesce_from(frm, firsts_at)}) / 3600.0"
        # Each cell's hours, in no order: ``answer`` works out the percentiles of the cells
        # and of the margins (docs/statistics.md, "Speed", tenth round).
        measure += f", array_agg({hours})"
    shown = f"{_shown(q, q.rows, row)} AS row_value, {_shown(q, q.columns, col)} AS column_value"

    def cells_of(src: str, side: str | None = None, also: str = "") -> str:
        n, by = (measure, "") if side is None else (f"{side} * {measure}", f"{side}, ")
        return f"""SELECT {shown}, {n} FROM {src} WHERE {" AND ".join(where)}{also}
        GROUP BY {by}{row}, {col}"""

    if until is not None and reads_moved(q):
        # The referrals' last fact and provider as they stand (the table read as it is,
        # in parallel), then the few referrals with a fact since twice: taken back as they
        # stand, counted as they stood (``moved``; ``answer`` adds up). The changed cases
        # below read ``r`` as the referrals stood, so the two corrections add up to the
        # question as everything stood (docs/statistics.md, "Speed", fourteenth round).
        # Durations too since the fifteenth round, which looks up only what is asked (time
        # to first answer by provider's kind 113 against 154 ms).
        ctes.append(f"moved AS NOT MATERIALIZED ({_moved(args, until, q, together)})")
        moved = source
        if together:  # each with its case as it stood (``then_``), its scope on ``r.region``
            moved = source.replace(_with_case("r", True, True), _case_then(q), 1)
        cells = f"""{cells_of(_reading(source, f"{REFERRAL} r"))}
        UNION ALL
        {cells_of(_reading(moved, "moved r", inner=True), "r.side")}"""
    else:
        cells = cells_of(source)
    if stood and not together:  # the rows as their cases stand, then the changed cases'
        # rows twice: taken back as they stand (a negative count), counted as they stood
        # (``answer`` adds up)
        twice = source.replace(_with_case(own, True, True), _both_sides(own), 1)
        mine = f" AND {own}.case_id = ANY(ARRAY(SELECT case_id FROM stood))"
        cells = f"""{cells}
        UNION ALL
        {cells_of(twice, "c.side", mine)}"""
    sql = f"WITH {', '.join(ctes)}\n        {cells}"
    if m.base == "fact":  # the outcome of a fact's referral: the one the fact carries (no
        sql = sql.replace("r.last_kind", "t.referral_kind")  # referral row ``r`` is read)
    return sql, args.values


def outcome_looked_up(q: Question) -> bool:
    """Whether ``build_sql`` looks up the outcome of each fact's referral as it stood (a
    count of facts by their referral's outcome as of a day, ``last_kind_as_of``): the
    planner cannot tell how many values such a look-up gives (``_fetch``)."""
    asked = (*q.dimensions, *q.filters)
    return q.as_of is not None and MEASURES[q.measure].base == "fact" and "outcome" in asked


def reads_moved(q: Question) -> bool:
    """Whether ``build_sql`` reads ``q``'s referrals as they stand, corrected for those with
    a fact since its ``as_of`` (``_moved``): a count of referrals or their durations by
    outcome or provider's kind, as of a day. (A count of facts by their referral's outcome
    reads the outcome each fact carries, as it stood: ``build_sql``.)"""
    asked = (*q.dimensions, *q.filters)
    by_referral = any(d in ("outcome", "provider_type") for d in asked)
    return (
        q.as_of is not None and MEASURES[q.measure].base in ("referral", "duration") and by_referral
    )


def _moved(args: _Args, until: datetime, q: Question, with_cases: bool = False) -> str:
    """The referrals whose last fact or provider came at or after ``until``, each twice
    (``side``): as it stands (-1) and as it stood before that instant (1, looked up by the
    index of its facts, ``last_kind_as_of``, ``provider_as_of``; only what ``q`` asks of
    them: a look-up is most of this part's time). Few, for a recent day. ``with_cases``:
    also the referrals of the cases changed since (``stood``), each with its case's
    dimensions as they stand (-1) and as they stood (1), as ``then_`` columns (its own
    stay as they are: a scope is on the region now)."""
    at = f"{args.add(until)}::timestamptz"
    asked = (*q.dimensions, *q.filters)
    kind = last_kind_as_of(at) if "outcome" in asked else "r.last_kind"
    provider = provider_as_of(at) if "provider_type" in asked else "r.provider_id"
    columns = [c.strip() for c in REFERRAL_COLUMNS.split(",")]
    read = ", ".join(f"s.{c}" if c in ("last_kind", "provider_id") else f"r.{c}" for c in columns)
    # The provider's kind: the one the row carries as it stands, the directory's for the
    # provider it had then (the directory is read as it is now, as for every reading).
    by_kind = "provider_type" in asked
    read += (
        ", CASE WHEN s.side = -1 THEN r.provider_type ELSE pt.org_type END AS provider_type"
        if by_kind
        else ", r.provider_type"
    )
    kinds = f" LEFT JOIN {PROVIDER} pt ON pt.provider_id = s.provider_id" if by_kind else ""
    carried = ", ".join(f"r.{x}" for x in CARRIED)
    moved = f"greatest(r.last_at, r.provider_at) >= {at}"
    if not with_cases:
        return f"""SELECT s.side, {read}, {carried} FROM {REFERRAL} r
        CROSS JOIN LATERAL (VALUES (-1, r.last_kind, r.provider_id),
            (1, {kind}, {provider})) AS s(side, last_kind, provider_id){kinds}
        WHERE {moved}"""
    asked_columns = dict.fromkeys(_asked_columns(q))  # each once (a filter may repeat one)
    then = ", ".join(
        f"CASE WHEN stood.case_id IS NULL THEN r.{x} ELSE stood.{x} END" for x in asked_columns
    )
    now = ", ".join(f"r.{x}" for x in asked_columns)
    named = ", ".join(f"then_{x}" for x in asked_columns)
    return f"""SELECT s.side, {read}, {carried}, {", ".join(f"s.then_{x}" for x in asked_columns)}
        FROM {REFERRAL} r LEFT JOIN stood ON stood.case_id = r.case_id
        CROSS JOIN LATERAL (VALUES (-1, r.last_kind, r.provider_id, {now}),
            (1, {kind}, {provider}, {then})) AS s(side, last_kind, provider_id, {named}){kinds}
        WHERE {moved} OR r.case_id = ANY(ARRAY(SELECT case_id FROM stood))"""


def _case_then(q: Question) -> str:
    """The referral rows of ``_moved`` with their case as ``c``: the columns ``q`` asks for
    from the ``then_`` columns, the others (not read) from the row's own, as ``_with_case``
    gives them."""
    asked = _asked_columns(q)
    then = ", ".join(f"r.then_{x}" if x in asked else f"r.{x}" for x in CARRIED)
    return f"r CROSS JOIN LATERAL (SELECT {then}) AS c({', '.join(CARRIED)})"


def _reading(source: str, table: str, inner: bool = False) -> str:
    """``source`` with its referral rows (``r``, the first table or joined to the facts)
    read from ``table`` (aliased ``r``): only the facts of its referrals when ``inner``."""
    if source == "r" or source.startswith("r "):
        return f"{table}{source[1:]}"
    join, joined = "JOIN" if inner else "LEFT JOIN", " LEFT JOIN r ON "
    if joined not in source:  # else a branch would read ``r`` as it stood, counted twice
        raise ValueError(f"no referral rows to read in {source!r}")
    return source.replace(joined, f" {join} {table} ON ", 1)


def corrected(q: Question) -> bool:
    """Whether ``build_sql`` reads ``q`` as the cases stand now, corrected for the few that
    changed since its ``as_of`` (``_cases_since``, as they stood): a question about facts,
    referrals or durations by a case dimension carried (or filtered on one) at ``as_of``.
    Its cells come in several rows each, some with negative counts (``answer``)."""
    return q.as_of is not None and bool(_asked_columns(q))


def _asked_columns(q: Question) -> tuple[str, ...]:
    """The case's columns that ``q`` (about facts, referrals or durations) breaks down or
    filters by, all carried; none when it asks for one not carried, or for none."""
    if MEASURES[q.measure].base not in ("fact", "referral", "duration"):
        return ()
    asked = [d for d in (*q.dimensions, *q.filters) if d in (*CASE_DIMENSIONS, *MINE_DIMENSIONS)]
    columns = tuple(LIST_DIMENSIONS.get(d, "age_band" if d == "child" else d) for d in asked)
    return columns if all(c in CARRIED for c in columns) else ()


def coalesce_from(column: str, at: str | None) -> str:
    """Where a duration starts: its ``column``, else the first routing (as they stood before
    ``at``)."""
    return f"coalesce({first_as_of(column, at)}, {first_as_of('routed_at', at)})"


def _with_case(table: str, reads_case: bool, carried: bool) -> str:
    """The fact (``t``) or referral (``r``) rows with their case's row as ``c``: the case's
    dimensions they carry (as it stands now), or joined, or none."""
    if not reads_case:
        return table
    if carried:
        own = ", ".join(f"{table}.{x}" for x in CARRIED)
        return f"{table} CROSS JOIN LATERAL (SELECT {own}) AS c({', '.join(CARRIED)})"
    return f"{table} JOIN c ON c.case_id = {table}.case_id"


def _both_sides(table: str) -> str:
    """The rows of the cases that changed since ``as_of`` (``stood``), each twice as ``c``:
    with its case as it stands (``c.side`` -1) and as it stood then (1). Their ids look
    them up by index (the planner would read the whole table to join them)."""
    now, then = (", ".join(f"{row}.{x}" for x in CARRIED) for row in (table, "stood"))
    return (
        f"{table} JOIN stood ON stood.case_id = {table}.case_id"
        f" CROSS JOIN LATERAL (VALUES (-1, {now}), (1, {then}))"
        f" AS c(side, {', '.join(CARRIED)})"
    )


def _group_key(q: Question, dimension: str | None, t_at: str, p_id: str, need_of: str) -> str:
    """What a breakdown groups by: a period by its first instant (formatted once per group,
    not once per row), a category list as it is (spread in ``_spread``)."""
    if dimension is None:
        return "''::text"
    if dimension in LIST_DIMENSIONS and not _lateral(q, dimension):
        return f"c.{LIST_DIMENSIONS[dimension]}"
    if _by_column(q, dimension):
        return _MAPPED_COLUMN[dimension]
    if dimension in _PERIOD_FORMAT and t_at == "c.opened_at":  # stored: migration 0013
        month = "c.opened_month"  # the case's opening, truncated once when it is written
        return month if dimension == "month" else f"date_trunc('{dimension}', {month})"
    if dimension in _PERIOD_FORMAT:
        return f"date_trunc('{dimension}', {t_at} AT TIME ZONE 'UTC')"
    return _bind(dimension, t_at, p_id, need_of)


def _shown(q: Question, dimension: str | None, key: str) -> str:
    if dimension is not None and _by_column(q, dimension):
        return _expression(dimension)  # of the grouped column: each group's value
    if dimension in _PERIOD_FORMAT:
        return f"to_char({key}, '{_PERIOD_FORMAT[dimension]}')"
    return key


# A dimension whose value maps a stored column's values, several to one: a count groups by
# the column (a plain value hashed, not the mapping worked out for every row: a quarter less
# time for referrals by need and outcome, docs/statistics.md "Speed") and shows each group's
# value; ``_spread`` adds up the groups that show the same one. A duration groups by the
# value itself: percentiles do not add up.
_MAPPED_COLUMN = {"outcome": "r.last_kind", "child": "c.age_band"}


def _by_column(q: Question, dimension: str | None) -> bool:
    return dimension in _MAPPED_COLUMN and MEASURES[q.measure].base != "duration"


def _lateral(q: Question, dimension: str) -> bool:
    """A category (or form) breakdown of durations needs a row per value (percentiles do
    not add up); counts group by the list and are spread here instead."""
    return dimension in q.dimensions and MEASURES[q.measure].base == "duration"


def _spread(q: Question, rows: list[asyncpg.Record]) -> dict[tuple[str, str], int]:
    """Counts per (row, column) value; a list (of categories, of forms) counts in each of
    its values (only in the one asked for, under a filter on that dimension)."""

    def values(dimension: str | None, value: Any) -> list[str]:
        if dimension not in LIST_DIMENSIONS:
            return [value]
        only = q.filters.get(dimension)
        return [c for c in value if only is None or c == only]

    out: Counter[tuple[str, str]] = Counter()
    for r in rows:  # a negative count takes back a changed case's (``corrected``)
        for a in values(q.rows, r[0]):
            for b in values(q.columns, r[1]):
                out[(a, b)] += int(r[2])
    return {cell: n for cell, n in out.items() if n}


async def answer(pool: asyncpg.Pool | asyncpg.Connection, q: Question) -> Raw:
    sql, args = build_sql(q)
    is_duration = MEASURES[q.measure].base == "duration"
    hashed = q.as_of is not None and not corrected(q)
    rows = await _fetch(pool, sql, args, hashed, is_duration or outcome_looked_up(q))
    if not is_duration:
        return Raw(_spread(q, rows))
    counts: dict[tuple[str, str], int] = {}
    durations: dict[tuple[str, str], tuple[int, float | None, float | None]] = {}
    # The margins' medians are their own (not sums): each margin's hours are its cells'
    # together (a one-dimensional table's rows are their own margins).
    margins: dict[tuple[str, str], list[float]] = {}
    for (row, column), hours in _cell_hours(rows).items():
        counts[(row, column)] = len(hours)
        durations[(row, column)] = _percentiles(hours)
        for key in ((row, TOTAL), (TOTAL, column), (TOTAL, TOTAL)):
            margins.setdefault(key, []).extend(hours)
    for key, hours in margins.items():
        hours.sort()  # sorted runs, merged (a few milliseconds for 100,000 hours)
        durations[key] = _percentiles(hours)
    return Raw(counts, durations)


def _cell_hours(rows: list[asyncpg.Record]) -> dict[tuple[str, str], list[float]]:
    """Each cell's hours, sorted. A row with a negative count holds hours its cell's row
    holds too (the same referrals, ``corrected``), taken back: one of each value, as often
    as it is given (a multiset's difference). A cell left with none is not there."""
    cells: dict[tuple[str, str], list[float]] = {}
    taken: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        (cells if r[2] > 0 else taken).setdefault((r[0], r[1]), []).extend(r[3])
    for hours in cells.values():
        hours.sort()
    for cell, hours in taken.items():
        if kept := _less(cells.pop(cell, []), hours):
            cells[cell] = kept
    return cells


def _less(hours: list[float], taken: list[float]) -> list[float]:
    """Sorted ``hours`` less one of each value of ``taken`` as often as it is given (fewer
    if it holds fewer), still sorted. Each value's copies stand together: cut out by
    slices, not counted one by one (a ``Counter`` of a cell's 40,000 hours took most of
    the 10 ms this cost for time to first answer by provider's kind as of a day)."""
    kept: list[float] = []
    start = 0
    for value, times in sorted(Counter(taken).items()):
        first = bisect_left(hours, value, start)
        if first == len(hours) or hours[first] != value:
            continue
        kept += hours[start:first]
        start = min(first + times, bisect_right(hours, value, first))
    kept += hours[start:]
    return kept


async def _fetch(
    db: asyncpg.Pool | asyncpg.Connection,
    sql: str,
    args: list[Any],
    hashed: bool,
    wide: bool = False,
) -> list[asyncpg.Record]:
    """The question's rows, its plan made for its values each time
    (``plan_cache_mode = force_custom_plan``), for this statement alone, in a transaction
    of its own (a connection already in one is read as it is: the setting would outlive
    the statement). The driver prepares each statement once per connection; after five
    runs PostgreSQL may keep a generic plan, made without knowing the period or the day,
    and for these questions it guessed wrong: cases opened by region and sex as of a day
    took 49 to 76 ms for its first five runs on a connection, then 117 to 167 ms; asked on
    connections that forced each plan, referrals by need and sex as of a day 68 against
    199 ms (docs/statistics.md, "Speed", fifteenth round; the fourteenth forced it for the
    referrals moved since alone). A plan costs a few milliseconds to make.

    ``hashed``: a reading with ``as_of`` of cases as they stood (``_snapshot``,
    ``_opened_as_of``) groups rows whose groups the planner cannot estimate well: it
    guessed tens of thousands and sorted some 100,000 rows to disk, where hashing them took
    a fifth less (tenth round; a ``corrected`` reading is not one). Sorting is discouraged
    for it.

    ``wide``: groups the planner thinks too large or too many to hash in the default 4 MB
    of memory, given 16 MB. Each cell's hours gathered (``array_agg``), whose state the
    planner counts at 8 kB a group: for a few hundred groups (a provider's kind by month)
    it sorted the rows instead (one worker's sort spilling to disk): time to first answer
    by provider's kind x month 109 to 111 ms, 76 ms hashed with 16 MB (sixteenth round).
    And a count of facts by their referral's outcome as of a day (``outcome_looked_up``):
    grouped by a look-up, whose values the planner guessed at some 56,000 for 6, so it
    sorted the 73,000 services started of a year on disk: by outcome x identification 143
    to 151 ms, 76 to 106 hashed (four alternated pairs, eighteenth round)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _fetch(conn, sql, args, hashed, wide)
    if db.is_in_transaction():
        return list(await db.fetch(sql, *args))
    settings = "SET LOCAL plan_cache_mode = force_custom_plan"
    if hashed:
        settings += "; SET LOCAL enable_sort = off"
    if wide:
        settings += "; SET LOCAL work_mem = '16MB'"
    async with db.transaction():
        await db.execute(settings)  # one round trip (the simple protocol takes both)
        return list(await db.fetch(sql, *args))


def _percentiles(hours: list[float]) -> tuple[int, float | None, float | None]:
    """(n, median, p90) of sorted ``hours``, as PostgreSQL's ``percentile_cont`` computes
    them (``test_statistics_durations``): the two values around the fraction's place,
    interpolated."""
    n = len(hours)

    def cont(fraction: float) -> float:
        place = fraction * (n - 1)
        first = math.floor(place)
        low = hours[first]
        if first == math.ceil(place):
            return low
        return low + (hours[first + 1] - low) * (place - first)

    return n, round(cont(0.5), 1), round(cont(0.9), 1)
