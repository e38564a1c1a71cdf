"""The statistics read model: what each event adds to ``stat_case``, ``stat_fact``,
``stat_referral`` and ``stat_provider`` (docs/statistics.md).

Two kinds of input, one place:

- the case's own events (``project``): in the transaction of their append, like
  ``case_summary``; each dimension change closes the case's current ``stat_case`` row and
  opens the next (guarded by the stream version, so projecting twice changes nothing);
- the referral service's events this service already receives for the case timeline
  (``record_received``, in the consumer's inbox transaction): referral facts keyed by event
  id, and each provider's kind from the directory events.

Every referral fact is also merged into its referral's ``stat_referral`` row by an upsert
that does not depend on order or repetition. Facts and referral rows carry their case's
dimensions as they stand now (``CARRIED``), kept in step when they change.

``safepath replay --service case --projection statistics`` empties the tables, folds the
case store set-based (``rebuild_fold``, to the rows ``project`` writes) while it derives
the referral facts again from the received events recorded in ``case_timeline``
(``derive_received``, in SQL, as ``received_facts`` reads them), both into
``stat_fact_rebuilt``; then writes those facts into ``stat_fact`` with their case's
dimensions (``settle_rebuild``); then (``finish_rebuild``) folds ``stat_referral`` from all
the facts (``referral_rows_sql``) and fills ``stat_provider`` again from the directory
events received (``received_directory_event``, kept by ``record_received`` as verified on
arrival).
"""

from __future__ import annotations

import asyncio
import hashlib
import operator
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from shared import pgcopy
from shared.envelope import Envelope
from shared.eventstore import StoredEvent

CASE = '"case".stat_case'
FACT = '"case".stat_fact'
PROVIDER = '"case".stat_provider'
REFERRAL = '"case".stat_referral'
# The directory events received, as verified on arrival (migration 0017): what a rebuild
# fills ``stat_provider`` from.
RECEIVED_DIRECTORY = '"case".received_directory_event'
# A rebuild's facts as it folds them, written into ``stat_fact`` with their case's
# dimensions once the fold is done (``settle_rebuild``, migration 0021).
_REBUILT_FACT_NAME = "stat_fact_rebuilt"
REBUILT_FACT = f'"case".{_REBUILT_FACT_NAME}'
# What a rebuild empties first (stat_provider: at the end).
TABLES = (CASE, FACT, REFERRAL, REBUILT_FACT)

# Issue 14's single-valued trafficking and refugee facts (migration 0018): 'none' when the
# profile records no facts of that category, 'unknown' when it does without this one.
CATEGORY_FACT_COLUMNS = ("trafficking_scope", "recruitment_channel", "procedure_stage")
# The forms of exploitation (migration 0019): several per case, like the categories; never
# empty (['none'] without trafficking facts, ['unknown'] when they name no form).
FORMS = "exploitation_forms"

DIMENSION_COLUMNS = (
    "status", "categories", "sex", "age_band", "disability", "disability_kind", "region",
    "district", "identification", "nationality_group", "victim", "casualty", "device_type",
    "incident_year", "incident_district", "relative_killed", *CATEGORY_FACT_COLUMNS, FORMS,
)  # fmt: skip
# ``relative_killed``: the casualty record (``casualty-…``) a ``CasualtyLinked`` names, else
# 'none'. Never an output: the casualty statistics read the record's incident facts through
# it for a case whose profile records none (an indirect victim: family of a person killed).
_CASE_TYPES = "org.safepath.case."
# A ``stat_case`` row's columns (less ``opened_month``, which the database derives).
_ROW = ("case_id", "version", "valid_from", "valid_to", "opened_at", *DIMENSION_COLUMNS)
# The case's dimensions as they stand now, carried on each of its facts and referral rows
# (migration 0021): a count or a duration by one of them reads the fact or referral table
# alone, not a join to the cases' current rows (docs/statistics.md, "Carried dimensions").
# NULL on a row written when no row of its case was known. The live path keeps them in
# step: a fact or a new referral row takes its case's current row, and a change of the
# case's dimensions carries the new ones onto its rows (``_CARRY_SQL``).
CARRIED = (
    "categories", "sex", "age_band", "disability", "disability_kind", "region", "district",
    "identification", "nationality_group", *CATEGORY_FACT_COLUMNS, FORMS,
    "opened_at",  # when the case opened: at ``as_of``, whether it had a row then
)  # fmt: skip
_CARRIED_LIST = ", ".join(CARRIED)
_NOT_CARRIED = frozenset(DIMENSION_COLUMNS) - frozenset(CARRIED)
_TYPE = {x: "text[]" if x in ("categories", FORMS) else "text" for x in CARRIED} | {
    "opened_at": "timestamptz"
}
_FROM_CASE = ", ".join(f"c.{x}" for x in CARRIED)  # from a case row ``c``
# The case's current row, or none (a fact whose case has no row: its carried values NULL).
_CASE_NOW = f"(VALUES (1)) AS one LEFT JOIN {CASE} c ON c.case_id = $2 AND c.valid_to IS NULL"
# A received fact names its need's referral, not always the need: the need is taken from the
# referral's row (its request came first), so a question by need reads the fact alone.
_FACT_SQL = f"""INSERT INTO {FACT} (fact_id, case_id, kind, at, referral_id, need, provider_id,
        detail, {_CARRIED_LIST})
    SELECT $1::text, $2::text, $3::text, $4::timestamptz, $5::text,
        coalesce($6::text, (SELECT r.need FROM {REFERRAL} r WHERE r.referral_id = $5)),
        $7::text, $8::text, {_FROM_CASE}
    FROM {_CASE_NOW}
    ON CONFLICT (fact_id) DO NOTHING"""
Fact = tuple[str, str, str, datetime, str | None, str | None, str | None, str | None]

# Received referral event -> the fact kind it counts as.
REFERRAL_FACTS = {
    "ReferralRouted": "routed",
    "ReferralUnroutable": "unroutable",
    "ReferralAccepted": "accepted",
    "ReferralDeclined": "declined",
    "ReferralEscalated": "escalated",
    "ServiceStarted": "service_started",
    "ServiceCompleted": "service_completed",
    "ReferralWithdrawn": "withdrawn",
    # A coordinator's choice outside the automatic rules (issue 13): counted on its own; it
    # is no step of the referral's lifecycle (the ``ReferralRouted`` that follows is).
    "ReferralAssignedByHand": "assigned_by_hand",
    # How the service ended, as the provider says (issue 13): it completes the referral.
    "ServiceOutcomeRecorded": "outcome_recorded",
    # A coordinator's decision that no provider exists (issue 13 item 6): the referral ends.
    "ReferralClosedUnmet": "unmet",
}


def _profile_dimensions(p: dict[str, Any]) -> dict[str, Any]:
    """The clear profile fields as dimension values (never ``identifying``)."""
    disability = p.get("disability")
    return {
        "categories": p["categories"],
        "sex": p.get("sex") or "unknown",
        "age_band": p.get("age_band") or "unknown",
        "disability": "unknown" if disability is None else ("yes" if disability else "no"),
        "disability_kind": p.get("disability_kind") or ("none" if disability is False else
                                                        "unknown"),
        "region": p["region"],
        "district": p.get("district") or "unknown",
        "nationality_group": p.get("citizenship_status") or "unknown",
        **_mine_dimensions(p.get("mine_eo")),
        **_category_fact_dimensions(p.get("trafficking"), p.get("refugee_asylum")),
    }  # fmt: skip


def _category_fact_dimensions(
    trafficking: dict[str, Any] | None, refugee: dict[str, Any] | None
) -> dict[str, Any]:
    """The trafficking and refugee facts that are safe as coarse dimensions: vocabularies
    (never a country, a year or a free text)."""
    t, r = trafficking or {}, refugee or {}
    return {
        FORMS: (list(t.get("exploitation_forms") or ()) or ["unknown"]) if trafficking
               else ["none"],
        "trafficking_scope": (t.get("scope") or "unknown") if trafficking else "none",
        "recruitment_channel": (t.get("recruitment_channel") or "unknown") if trafficking
                               else "none",
        "procedure_stage": (r.get("procedure_stage") or "unknown") if refugee else "none",
    }  # fmt: skip


def _mine_dimensions(mine: dict[str, Any] | None) -> dict[str, str]:
    """A casualty's facts (the profile's ``mine_eo`` part, once events carry it)."""
    if not mine:
        return dict.fromkeys(
            ("victim", "casualty", "device_type", "incident_year", "incident_district"), "none"
        )
    year = mine.get("incident_year")
    return {
        "victim": mine.get("victim") or "unknown",
        "casualty": mine.get("outcome") or "unknown",
        "device_type": mine.get("device_type") or "unknown",
        "incident_year": "unknown" if year is None else str(year),
        "incident_district": mine.get("incident_district") or "unknown",
    }


def dimension_change(name: str, d: dict[str, Any]) -> dict[str, Any] | None:
    """The dimensions an event named ``name`` with data ``d`` sets (None: it sets none)."""
    match name:
        case "SurvivorProfileRecorded" | "SurvivorProfileUpdated":
            return _profile_dimensions(d["profile"])
        case "IdentificationRecorded":
            return {"identification": d["status"]}
        case "CaseClosed":
            return {"status": "closed"}
        case "CaseReopened":
            return {"status": "open"}
        case "CasualtyLinked":  # the last link made counts (a person is one indirect victim)
            return {"relative_killed": d["casualty_id"]}
        case "CasualtyCorrected":  # a person killed: the record as it now stands (same region)
            return _casualty_facts(d)
        case _:
            return None


CASUALTY_RECORD = "casualty_record"  # the status of a person killed: no survivor case


def _casualty_facts(d: dict[str, Any]) -> dict[str, Any]:
    """The clear facts of a person killed (``CasualtyRecorded``, ``CasualtyCorrected``)."""
    year = d.get("incident_year")
    return {
        "sex": d["sex"], "age_band": d["age_band"], "district": d["incident_district"],
        "device_type": d.get("device_type") or "unknown",
        "incident_year": "unknown" if year is None else str(year),
        "incident_district": d["incident_district"],
    }  # fmt: skip


def casualty_row(stream_id: str, version: int, at: datetime, d: dict[str, Any]) -> dict[str, Any]:
    """A person killed (``CasualtyRecorded``, no survivor case) as a ``stat_case`` row that
    only the casualty statistics count."""
    return {
        "case_id": stream_id, "version": version, "valid_from": at, "valid_to": None,
        "opened_at": at, "status": CASUALTY_RECORD, "categories": ["mine_eo"],
        "disability": "unknown", "disability_kind": "unknown", "region": d["region"],
        "identification": "none", "nationality_group": "unknown", "victim": "direct",
        "casualty": "killed", "relative_killed": "none", **_casualty_facts(d),
        **dict.fromkeys(CATEGORY_FACT_COLUMNS, "none"), FORMS: ["none"],
    }  # fmt: skip


def case_facts(name: str, case_id: str, eid: str, at: datetime, d: dict[str, Any]) -> list[Fact]:
    """What a case event adds to ``stat_fact``."""
    match name:
        case "CaseOpened":
            return [(eid, case_id, "case_opened", at, None, None, None, None)]
        case "CaseClosed":
            return [(eid, case_id, "case_closed", at, None, None, None, d["reason"])]
        case "IdentificationRecorded":
            return [(eid, case_id, "identification", at, None, None, None, d["status"])]
        case "ReflectionPeriodStarted":
            return [(eid, case_id, "reflection_started", at, None, None, None, str(d["days"]))]
        case "ReflectionPeriodExtended":
            return [(eid, case_id, "reflection_extended", at, None, None, None,
                     d["reason_code"])]  # fmt: skip
        case "ReflectionPeriodEnded":
            return [(eid, case_id, "reflection_ended", at, None, None, None, d["outcome"])]
        case "AssistiveDeviceRecorded":  # a device fitted, repaired or replaced (#35)
            return [(eid, case_id, "assistive_device", at, None, None, None,
                     f"{d['device']}/{d['action']}")]  # fmt: skip
        case "ReferralRequested":
            request = _uuid_bytes(d["referral_id"])
            return [
                (f"{eid}/{need}", case_id, "referral_requested", at,
                 need_referral_id(request, need), need, None, d["urgency"])
                for need in d["needs"]
            ]  # fmt: skip
        case _:
            return []


def _uuid_bytes(text: str) -> bytes:
    """``uuid.UUID(text).bytes``, without the object for the usual spelling."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        try:
            return bytes.fromhex(text.replace("-", ""))
        except ValueError:
            pass
    return uuid.UUID(text).bytes


def need_referral_id(request: bytes, need: str) -> str:
    """``str(uuid.uuid5(UUID(bytes=request), need))``, the per-need referral id both services
    derive, without building two ``UUID`` objects (a tenth of a rebuild's time)."""
    b = bytearray(hashlib.sha1(request + need.encode(), usedforsecurity=False).digest()[:16])
    b[6] = (b[6] & 0x0F) | 0x50  # version 5
    b[8] = (b[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = b.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


_OPEN_SQL = f"""INSERT INTO {CASE} (case_id, version, valid_from, opened_at, status,
        categories, sex, age_band, disability, disability_kind, region, district,
        identification, nationality_group, victim, casualty, device_type, incident_year,
        incident_district, relative_killed, {", ".join(CATEGORY_FACT_COLUMNS)}, {FORMS})
    VALUES ($1, $2, $3, $3, 'open', $4, 'unknown', 'unknown', 'unknown', 'unknown', $5,
            'unknown', 'none', 'unknown', 'none', 'none', 'none', 'none', 'none', 'none',
            {", ".join("'none'" for _ in CATEGORY_FACT_COLUMNS)}, ARRAY['none'])
    ON CONFLICT DO NOTHING"""


def _change_sql(columns: Sequence[str]) -> str:
    """Close the current row (if older than this event) and open the next with ``columns``
    set from $4...; other dimensions are carried over."""
    values = {c: f"${n}" for n, c in enumerate(columns, start=4)}
    carried = ", ".join(values.get(c, f"cur.{c}") for c in DIMENSION_COLUMNS)
    return f"""WITH cur AS (
            UPDATE {CASE} SET valid_to = $3
            WHERE case_id = $1 AND valid_to IS NULL AND version < $2
            RETURNING *)
        INSERT INTO {CASE} (case_id, version, valid_from, opened_at, {", ".join(DIMENSION_COLUMNS)})
        SELECT cur.case_id, $2, $3, cur.opened_at, {carried} FROM cur"""


async def project(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    """Apply case events (in stream order) to the statistics tables (the live path)."""
    new = _new_case(events)
    if new is not None:
        rows, new_facts = new
        await conn.execute(
            _NEW_CASE_SQL,
            orjson.dumps(rows).decode(),
            *(list(column) for column in zip(*new_facts, strict=True)),
            *(rows[-1][x] for x in CARRIED),
        )
    else:
        await _project_each(conn, events)


async def _project_each(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    """``project`` event by event: each change of a case's dimensions closes its current
    row in the table and opens the next, carrying the rest over."""
    facts: list[Fact] = []
    changed: dict[str, None] = {}  # the cases whose dimensions changed, in order
    for event in events:
        if not event.event_type.startswith(_CASE_TYPES) or event.stream_id.startswith("access-"):
            continue
        at, d, name = event.occurred_at, event.data, event.event_name
        if name == "CasualtyRecorded":
            row = casualty_row(event.stream_id, event.stream_version, at, d)
            await conn.execute(_INSERT_ONE, *(row[c] for c in _ROW))
        elif name == "CaseOpened":
            await conn.execute(
                _OPEN_SQL, event.stream_id, event.stream_version, at, d["categories"], d["region"]
            )
        elif (change := dimension_change(name, d)) is not None:
            columns = list(change)
            await conn.execute(
                _change_sql(columns),
                event.stream_id,
                event.stream_version,
                at,
                *(change[c] for c in columns),
            )
            if not _NOT_CARRIED.issuperset(columns):  # a closing, a link: nothing to carry
                changed[event.stream_id] = None
        facts += case_facts(name, event.stream_id, str(event.event_id), at, d)
    for case_id in changed:  # after the row change: see ``_CARRY_SQL``
        await conn.execute(_CARRY_SQL, case_id)
    await _add_facts(conn, facts)


# The case's current dimensions onto its facts and referral rows, where they differ. A
# statement of its own, after the one that changed the case's row: a transaction that
# writes a received fact holds that row first (``_hold_case_row``), so the change waits
# for it to commit, and this statement, which reads afresh, then finds its fact. (In the
# statement that changed the row it would not: a statement reads what was committed when
# it began, before the wait.)
_SET_CARRIED = ", ".join(f"{x} = c.{x}" for x in CARRIED)
_DIFFERS = f"({', '.join(f't.{x}' for x in CARRIED)}) IS DISTINCT FROM ({_FROM_CASE})"
_CARRY_SQL = f"""WITH c AS (SELECT * FROM {CASE} WHERE case_id = $1 AND valid_to IS NULL),
        facts AS (UPDATE {FACT} t SET {_SET_CARRIED} FROM c
                  WHERE t.case_id = $1 AND {_DIFFERS})
    UPDATE {REFERRAL} t SET {_SET_CARRIED} FROM c WHERE t.case_id = $1 AND {_DIFFERS}"""


# A new case's first append (``CaseOpened`` at version 1, and at intake its profile) in one
# statement: its rows, folded in memory as a rebuild folds them (there is no row before
# them to carry over), and its facts. An intake had a round trip for each of the three.
# The facts carry the dimensions of the last row (the case as it now stands: $10...).
_NEW_CASE_SQL = f"""WITH case_rows AS (
        INSERT INTO {CASE} ({", ".join(_ROW)})
        SELECT {", ".join(_ROW)} FROM jsonb_populate_recordset(NULL::{CASE}, $1::jsonb)
        ON CONFLICT DO NOTHING)
    INSERT INTO {FACT} (fact_id, case_id, kind, at, referral_id, need, provider_id, detail,
        {_CARRIED_LIST})
    SELECT *, {", ".join(f"${n}::{_TYPE[x]}" for n, x in enumerate(CARRIED, start=10))}
    FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
                $7::text[], $8::text[], $9::text[])
    ON CONFLICT (fact_id) DO NOTHING"""


def _new_case(events: Sequence[StoredEvent]) -> tuple[list[dict[str, Any]], list[Fact]] | None:
    """The ``stat_case`` rows and the facts of a new case's first events, or None where the
    event-by-event path applies (not a new case, or a fact about a referral, which is also
    merged into ``stat_referral``)."""
    if not events or events[0].event_name != "CaseOpened" or events[0].stream_version != 1:
        return None
    case_id = events[0].stream_id
    rows: list[dict[str, Any]] = []
    facts: list[Fact] = []
    for event in events:
        if event.stream_id != case_id or not event.event_type.startswith(_CASE_TYPES):
            return None
        at, d, name = event.occurred_at, event.data, event.event_name
        if name == "CaseOpened":
            if rows:
                return None
            rows.append(_opened_row(case_id, event.stream_version, at, d))
        elif name == "CasualtyRecorded":
            return None
        elif (change := dimension_change(name, d)) is not None:
            rows[-1]["valid_to"] = at
            rows.append(_next_row(rows[-1], change, event.stream_version, at))
        facts += case_facts(name, case_id, str(event.event_id), at, d)
    if not facts or any(f[4] is not None for f in facts):
        return None
    return rows, facts


async def _add_facts(conn: asyncpg.Connection, facts: list[Fact]) -> None:
    """Insert ``facts`` (each once) and merge the referral ones into ``stat_referral``."""
    if not facts:
        return
    await conn.executemany(_FACT_SQL, facts)
    merged = [(f[4], f[1], f[5], f[2], f[3], RANK[f[2]], f[6]) for f in facts
              if f[4] and f[2] in RANK]  # fmt: skip
    if merged:
        await conn.executemany(_REFERRAL_UPSERT, merged)
    referrals = list(dict.fromkeys(f[4] for f in facts if f[4]))
    if referrals:  # after the merge, in a statement of its own: see ``_CARRY_KIND_SQL``
        await conn.execute(_CARRY_KIND_SQL, referrals)


# Each referral's last kind and its instant as they now stand onto all of its facts
# (``referral_kind``, ``referral_last_at``, migration 0030), where they differ: a count of
# facts by the referral's outcome then reads the facts alone. After the merge into
# ``stat_referral`` (which locks the row, waiting for a transaction that merged into it
# before), and in a statement of its own, which reads afresh: it finds that other
# transaction's facts too, and gives them the kind as this one leaves it. ``FOR SHARE``
# does the same for a fact that merges nothing (an assignment by hand). A referral with no
# row yet gives its facts none; the merge that makes the row carries the kind onto them.
_CARRY_KIND_SQL = f"""WITH r AS (SELECT referral_id, last_kind, last_at FROM {REFERRAL}
        WHERE referral_id = ANY($1::text[]) FOR SHARE)
    UPDATE {FACT} f SET referral_kind = r.last_kind, referral_last_at = r.last_at FROM r
    WHERE f.referral_id = r.referral_id
      AND (f.referral_kind, f.referral_last_at) IS DISTINCT FROM (r.last_kind, r.last_at)"""


# -- what the case service receives -----------------------------------------------------------


def received_facts(
    event_id: str, event_name: str, at: datetime, data: dict[str, Any]
) -> list[Fact]:
    """What a received referral event adds to ``stat_fact`` (live and in a rebuild)."""
    kind = REFERRAL_FACTS.get(event_name)
    case_id = data.get("case_id")
    if kind is None or not isinstance(case_id, str):
        return []
    detail = data.get("reason_code") or data.get("cause")
    if event_name == "ReferralRouted":
        attempt = data.get("attempt")
        detail = None if attempt is None else str(attempt)
    elif event_name == "ServiceOutcomeRecorded":
        detail = data.get("outcome")
    return [
        (event_id, case_id, kind, at, data.get("referral_id"), data.get("need"),
         data.get("provider_id"), detail)
    ]  # fmt: skip


async def record_received(conn: asyncpg.Connection, env: Envelope) -> None:
    """Apply a received referral-service event (inside the consumer's inbox transaction)."""
    if env.event_name in ("ProviderRegistered", "ProviderUpdated"):
        provider = env.data["provider"]
        # The referral rows' table first, as a rebuild's finish takes it (then the
        # directory's): this transaction writes both, the directory's first (see
        # ``_KIND_OF_PROVIDER``), and, the other way round, the two would deadlock.
        await conn.execute(f"LOCK TABLE {REFERRAL} IN ROW EXCLUSIVE MODE")
        await conn.execute(
            # A row carried over by migration 0017 gains the signed event if it comes again
            # (the referral stream replayed to this consumer); else a repeat changes nothing.
            f"""INSERT INTO {RECEIVED_DIRECTORY} AS d (provider_id, version, org_type,
                    event_id, occurred_at, envelope) VALUES ($1, $2, $3, $4::uuid, $5, $6)
                ON CONFLICT (provider_id, version) DO UPDATE SET org_type = excluded.org_type,
                    event_id = excluded.event_id, occurred_at = excluded.occurred_at,
                    envelope = excluded.envelope
                WHERE d.envelope IS NULL AND excluded.envelope IS NOT NULL""",
            provider["id"],
            env.streamversion,
            provider["org_type"],
            env.id,
            env.time,
            # The signed event as verified on arrival (as ``case_timeline.envelope``).
            env.to_json().decode() if env.signature else None,
        )
        await conn.execute(
            f"""INSERT INTO {PROVIDER} AS p (provider_id, org_type, version) VALUES ($1, $2, $3)
                ON CONFLICT (provider_id) DO UPDATE SET org_type = excluded.org_type,
                    version = excluded.version
                WHERE p.version < excluded.version""",
            provider["id"],
            provider["org_type"],
            env.streamversion,
        )
        # In a statement of its own, after the one that holds the directory's row: see
        # ``_KIND_OF_PROVIDER``. Directory events are few (a provider registered or
        # changed); their referral rows are found without an index.
        await conn.execute(_CARRY_PROVIDER_KIND_SQL, provider["id"])
        return
    facts = received_facts(env.id, env.event_name, env.time, env.data)
    if facts:
        await _hold_case_row(conn, facts[0][1])
    await _add_facts(conn, facts)


# A provider's kind as the directory now gives it onto its referral rows, where it differs.
_CARRY_PROVIDER_KIND_SQL = f"""UPDATE {REFERRAL} r SET provider_type = p.org_type
    FROM {PROVIDER} p
    WHERE p.provider_id = $1 AND r.provider_id = $1
      AND r.provider_type IS DISTINCT FROM p.org_type"""
_HOLD = f"SELECT true FROM {CASE} WHERE case_id = $1 AND valid_to IS NULL FOR SHARE"
_HAS_ROW = f"SELECT EXISTS (SELECT 1 FROM {CASE} WHERE case_id = $1 AND valid_to IS NULL)"


async def _hold_case_row(conn: asyncpg.Connection, case_id: str) -> None:
    """Hold the case's current row (``FOR SHARE``) to the end of this transaction, before
    writing a received fact that carries its dimensions: a change of the case's dimensions
    (``project``, in the case's own transaction) then either waits for this one to commit
    and carries the change onto its fact (``_CARRY_SQL``), or has committed first, and this
    reads the new row. A row changed while this waited is gone from the answer (it is no
    longer current): read again, and hold the new one. No row: the fact carries none."""
    for _ in range(100):  # each round follows a change that committed meanwhile
        if await conn.fetchval(_HOLD, case_id):
            return
        if not await conn.fetchval(_HAS_ROW, case_id):
            return
    raise RuntimeError("the case's statistics row kept changing")  # the consumer retries


# An operator's statement, never run by the service (docs/statistics.md, "Provider kinds"):
# for an installation whose case service heard the directory before it kept the events
# (before migration 0005 filled ``stat_provider``, so migration 0017 had nothing to carry
# over), the directory events from the referral service's own store, when both schemas are
# in one database; a replay then fills ``stat_provider`` from them. Running it twice, or
# over events the consumer kept already, adds nothing.
PROVIDER_KINDS_FROM_REFERRAL_SCHEMA = """INSERT INTO "case".received_directory_event
    (provider_id, version, org_type, event_id, occurred_at)
SELECT data->'provider'->>'id', stream_version, data->'provider'->>'org_type', event_id,
       occurred_at
FROM referral.event
WHERE stream_id = 'directory'
  AND split_part(event_type, '.', 4) IN ('ProviderRegistered', 'ProviderUpdated')
ON CONFLICT DO NOTHING"""


# -- one row per need's referral ---------------------------------------------------------------

# The order of a referral's facts at one instant (ties broken by the kind's name).
RANK = {
    "referral_requested": 0, "routed": 1, "unroutable": 1, "declined": 2, "escalated": 2,
    "accepted": 3, "service_started": 4, "service_completed": 5, "outcome_recorded": 5,
    "withdrawn": 6, "unmet": 6,
}  # fmt: skip
LIFECYCLE = ", ".join(f"'{k}'" for k in RANK)  # the facts a referral's row is folded from
RANK_SQL = "CASE kind " + " ".join(f"WHEN '{k}' THEN {v}" for k, v in RANK.items()) + " END"

# $1 referral_id, $2 case_id, $3 need, $4 kind, $5 at, $6 rank, $7 provider_id. Every
# column is a least/greatest over the facts, so order and repetition do not matter; the
# carried dimensions are the case's current row's (kept where it has none).
_NEWER = """excluded.last_at IS NOT NULL AND (r.last_at IS NULL OR
    (excluded.last_at, excluded.last_rank, excluded.last_kind) > (r.last_at, r.last_rank,
     r.last_kind))"""
_NEWER_PROVIDER = """excluded.provider_at IS NOT NULL AND (r.provider_at IS NULL OR
    (excluded.provider_at, excluded.provider_rank, excluded.provider_id) > (r.provider_at,
     r.provider_rank, r.provider_id))"""
# The provider's kind as the directory gives it (``provider_type``, migration 0031), its
# row held ``FOR SHARE`` to the end of the transaction: a directory event that changes the
# kind (``record_received``) updates that row first, so this waits for it to commit and
# reads the new kind, or, if this came first, the directory event waits for this one, and
# its next statement, which carries the kind onto the provider's referral rows, finds this
# row. Either way the row carries the kind the directory now gives.
_KIND_OF_PROVIDER = f"""CASE WHEN $7::text IS NOT NULL THEN (SELECT p.org_type FROM {PROVIDER} p
            WHERE p.provider_id = $7::text FOR SHARE) END"""
_REFERRAL_UPSERT = f"""
    INSERT INTO {REFERRAL} AS r (referral_id, case_id, need, requested_at, routed_at,
        answered_at, started_at, last_at, last_rank, last_kind, provider_id, provider_type,
        provider_at, provider_rank, {_CARRIED_LIST})
    SELECT $1::text, $2::text, $3::text,
        CASE WHEN $4::text = 'referral_requested' THEN $5::timestamptz END,
        CASE WHEN $4 IN ('routed', 'unroutable') THEN $5::timestamptz END,
        CASE WHEN $4 IN ('accepted', 'declined') THEN $5::timestamptz END,
        CASE WHEN $4 = 'service_started' THEN $5::timestamptz END,
        CASE WHEN $4 <> 'referral_requested' THEN $5::timestamptz END,
        CASE WHEN $4 <> 'referral_requested' THEN $6::int END,
        CASE WHEN $4 <> 'referral_requested' THEN $4 END,
        $7::text,
        {_KIND_OF_PROVIDER},
        CASE WHEN $7::text IS NOT NULL THEN $5::timestamptz END,
        CASE WHEN $7::text IS NOT NULL THEN $6::int END,
        {_FROM_CASE}
    FROM {_CASE_NOW}
    ON CONFLICT (referral_id) DO UPDATE SET
        {", ".join(f"{x} = coalesce(excluded.{x}, r.{x})" for x in CARRIED)},
        case_id = least(r.case_id, excluded.case_id),
        need = least(r.need, excluded.need),
        requested_at = least(r.requested_at, excluded.requested_at),
        routed_at = least(r.routed_at, excluded.routed_at),
        answered_at = least(r.answered_at, excluded.answered_at),
        started_at = least(r.started_at, excluded.started_at),
        last_at = CASE WHEN {_NEWER} THEN excluded.last_at ELSE r.last_at END,
        last_rank = CASE WHEN {_NEWER} THEN excluded.last_rank ELSE r.last_rank END,
        last_kind = CASE WHEN {_NEWER} THEN excluded.last_kind ELSE r.last_kind END,
        provider_id = CASE WHEN {_NEWER_PROVIDER} THEN excluded.provider_id
                      ELSE r.provider_id END,
        provider_type = CASE WHEN {_NEWER_PROVIDER} THEN excluded.provider_type
                        ELSE r.provider_type END,
        provider_at = CASE WHEN {_NEWER_PROVIDER} THEN excluded.provider_at
                      ELSE r.provider_at END,
        provider_rank = CASE WHEN {_NEWER_PROVIDER} THEN excluded.provider_rank
                        ELSE r.provider_rank END"""


# A referral's last fact is the greatest by (at, rank, kind): as one bigint, the instant in
# microseconds times 16 plus the fact's place in (rank, kind) order, so its row takes a plain
# max() instead of an ordered aggregate (which sorted every referral's facts apart and built
# an array of strings for each). Within a rank the kinds differ in their first letter, so
# their order is the one ``ORDER BY kind`` gave in any collation.
_LAST_ORDER = {k: n for n, (_, k) in enumerate(sorted((r, k) for k, r in RANK.items() if r))}
assert len(_LAST_ORDER) <= 16 and len({(RANK[k], k[0]) for k in _LAST_ORDER}) == len(_LAST_ORDER)
_MICROS = "(extract(epoch FROM at) * 1000000)::bigint"
_LAST_KEY = (
    f"{_MICROS} * 16 + CASE kind "
    + " ".join(f"WHEN '{k}' THEN {n}" for k, n in _LAST_ORDER.items())
    + " END"
)


def _from_last_key(of: dict[str, object]) -> str:
    return (
        "CASE last_key & 15 "
        + " ".join(f"WHEN {n} THEN {of[k]!r}" for k, n in _LAST_ORDER.items())
        + " END"
    )


# A referral's provider is the one of its greatest (at, rank, provider_id) fact that names
# one (as ``_NEWER_PROVIDER`` keeps it live). As one plain max() over an array, compared
# element by element: the instant in microseconds times 16 plus the rank (0 to 6), shifted
# by 2^60 (a multiple of 16) so that it is never negative, as 19 digits (equal-length digit
# strings order as their numbers in every collation), then the provider's id in the
# column's own collation, as the live comparison orders it. An ordered aggregate
# (``array_agg(... ORDER BY ...)``) sorted each referral's facts apart and forced the whole
# fold into a sort by referral; a plain max() lets it hash (for 160,000 referrals the
# fold alone took about a third less time; docs/statistics.md, "Speed", eighth round).
_PROVIDER_KEY = f"lpad(({_MICROS} * 16 + rank + 1152921504606846976)::text, 19, '0')"


# ``stat_referral``'s own columns, as the fold gives them (the table holds them in the order
# its readings need, migration 0029; every statement names them).
REFERRAL_COLUMNS = """referral_id, case_id, need, requested_at, routed_at, answered_at,
            started_at, last_at, last_rank, last_kind, provider_id, provider_at,
            provider_rank"""


def referral_rows_sql(until: str | None = None) -> str:
    """``stat_referral``'s rows folded from ``stat_fact`` (facts before ``until``, a SQL
    expression, when given): what the upserts above leave, as one query."""
    cond = "" if until is None else f" AND at < {until}"
    return _fold("referral_id", f"referral_id IS NOT NULL{cond}", "GROUP BY referral_id")


def _fold(referral_id: str, where: str, group: str) -> str:
    """The fold of the lifecycle facts ``where`` says into referral rows, grouped by
    ``group``."""
    later = "FILTER (WHERE kind <> 'referral_requested')"
    served = "FILTER (WHERE provider_id IS NOT NULL)"
    # The same call written twice is computed once.
    pv = f"(max(ARRAY[{_PROVIDER_KEY}, provider_id]) {served})"
    rank = _from_last_key({k: RANK[k] for k in _LAST_ORDER})
    kind = _from_last_key({k: k for k in _LAST_ORDER})
    columns = REFERRAL_COLUMNS.replace("last_rank", f"{rank} AS last_rank")
    columns = columns.replace("last_kind", f"{kind} AS last_kind")
    return f"""SELECT {columns}
        FROM (SELECT {referral_id} AS referral_id, min(case_id) AS case_id, min(need) AS need,
            min(at) FILTER (WHERE kind = 'referral_requested') AS requested_at,
            min(at) FILTER (WHERE kind IN ('routed', 'unroutable')) AS routed_at,
            min(at) FILTER (WHERE kind IN ('accepted', 'declined')) AS answered_at,
            min(at) FILTER (WHERE kind = 'service_started') AS started_at,
            max(at) {later} AS last_at,
            max({_LAST_KEY}) {later} AS last_key,
            {pv}[2] AS provider_id,
            max(at) {served} AS provider_at,
            ({pv}[1]::bigint & 15)::int AS provider_rank
        FROM (SELECT *, {RANK_SQL} AS rank FROM {FACT}
              WHERE {where} AND kind IN ({LIFECYCLE})) f
        {group}) r"""


# The kinds a referral's last fact is taken from (the request is not one), as ``_LAST_KEY``.
_LAST_KINDS = ", ".join(f"'{k}'" for k in _LAST_ORDER)
_RANK_OF_F = RANK_SQL.replace("CASE kind", "CASE f.kind")
_RANK_OF_K = RANK_SQL.replace("CASE kind", "CASE k.kind")


def last_kind_as_of(at: str, row: str = "r", carried: bool = False) -> str:
    """A referral row's (``row``) last kind as it stood before the instant ``at`` (a SQL
    expression), without folding the row again: its own when its last fact came before
    (every fact that counts for it did, ``last_at`` being the latest of them), else the kind
    of its greatest fact by (at, rank, kind) before the instant, as ``_LAST_KEY`` orders
    them (within a rank the kinds differ in their first letter: any collation orders them
    alike), read by the index of each referral's facts; none if it had none yet. Only the
    few referrals with a fact since are looked up, each when its row is read
    (``test_statistics_referral_fold``; docs/statistics.md, "Speed", eleventh round).
    ``carried``: ``row`` is a fact, with its referral's last kind and instant as it carries
    them (``referral_kind``, ``referral_last_at``, migration 0030)."""
    last_at, kind = ("referral_last_at", "referral_kind") if carried else ("last_at", "last_kind")
    return f"""CASE WHEN {row}.{last_at} IS NULL OR {row}.{last_at} < {at} THEN {row}.{kind}
        ELSE (SELECT k.kind FROM {FACT} k
              WHERE k.referral_id = {row}.referral_id AND k.at < {at}
                AND k.kind IN ({_LAST_KINDS})
              ORDER BY k.at DESC, {_RANK_OF_K} DESC, k.kind DESC LIMIT 1) END"""


def provider_as_of(at: str) -> str:
    """A referral row's (``r``) provider as it stood before the instant ``at``: its own
    when every fact naming one came before (``provider_at``, the latest), else the one of
    its greatest such fact by (at, rank, provider id) before the instant, the id in the
    column's own collation, as ``_PROVIDER_KEY`` and the live upsert order them."""
    return f"""CASE WHEN r.provider_at IS NULL OR r.provider_at < {at} THEN r.provider_id
        ELSE (SELECT f.provider_id FROM {FACT} f
              WHERE f.referral_id = r.referral_id AND f.at < {at}
                AND f.provider_id IS NOT NULL AND f.kind IN ({LIFECYCLE})
              ORDER BY f.at DESC, {_RANK_OF_F} DESC, f.provider_id DESC LIMIT 1) END"""


# -- the set-based rebuild -------------------------------------------------------------------

_NAME = "split_part(event_type, '.', 4)"
# The case facts the database derives itself, in one statement per batch (as ``case_facts``
# has them: kind and detail; a test holds the two together). A request's facts are the
# fold's: their per-need referral id is a SHA-1 (``need_referral_id``), which PostgreSQL
# has no function for without an extension.
SQL_FACTS = {
    "CaseOpened": ("case_opened", "NULL"),
    "CaseClosed": ("case_closed", "data->>'reason'"),
    "IdentificationRecorded": ("identification", "data->>'status'"),
    "ReflectionPeriodStarted": ("reflection_started", "data->>'days'"),
    "ReflectionPeriodExtended": ("reflection_extended", "data->>'reason_code'"),
    "ReflectionPeriodEnded": ("reflection_ended", "data->>'outcome'"),
    "AssistiveDeviceRecorded": ("assistive_device",
                                "concat(data->>'device', '/', data->>'action')"),
}  # fmt: skip
# What the fold reads (each event parsed): the events that change a case's dimensions, and
# the requests (for their facts). Every other event is skipped by its name before parsing.
FOLDED = (
    "CaseOpened", "SurvivorProfileRecorded", "SurvivorProfileUpdated", "IdentificationRecorded",
    "CaseClosed", "CaseReopened", "CasualtyRecorded", "CasualtyLinked", "CasualtyCorrected",
    "ReferralRequested",
)  # fmt: skip
_OURS = f"event_type LIKE '{_CASE_TYPES}%' AND stream_id NOT LIKE 'access-%'"
# Only what the fold reads of each event it folds (trimmed by the database: the sealed
# blobs, the consent and the rest of a request are a rebuild's largest reads, never used).
_TRIMMED = """CASE split_part(event_type, '.', 4)
    WHEN 'SurvivorProfileRecorded' THEN jsonb_build_object('profile',
        (data->'profile') - 'identifying')
    WHEN 'SurvivorProfileUpdated' THEN jsonb_build_object('profile',
        (data->'profile') - 'identifying')
    WHEN 'ReferralRequested' THEN jsonb_build_object('referral_id', data->'referral_id',
        'needs', data->'needs', 'urgency', data->'urgency')
    WHEN 'CaseOpened' THEN jsonb_build_object('categories', data->'categories',
        'region', data->'region')
    WHEN 'IdentificationRecorded' THEN jsonb_build_object('status', data->'status')
    WHEN 'CaseClosed' THEN '{}'::jsonb
    WHEN 'CaseReopened' THEN '{}'::jsonb
    ELSE data - 'identifying' END"""
# ``data``: the trimmed event when the fold reads it, else NULL; ``fact``: whether the
# database derives a fact from it (``SQL_FACTS``); the event id only for a request's facts.
REBUILD_COLUMNS = f"""stream_id, stream_version, occurred_at,
    CASE WHEN {_NAME} = 'ReferralRequested' THEN event_id::text END, {_NAME} AS name,
    CASE WHEN {_OURS} AND {_NAME} IN ({", ".join(f"'{n}'" for n in FOLDED)})
         THEN ({_TRIMMED})::text END AS data,
    {_OURS} AND {_NAME} IN ({", ".join(f"'{n}'" for n in SQL_FACTS)}) AS fact"""
_INSERT_ONE = f"""INSERT INTO {CASE} ({", ".join(_ROW)})
    VALUES ({", ".join(f"${n}" for n in range(1, len(_ROW) + 1))}) ON CONFLICT DO NOTHING"""
_CLOSE_ROWS = f"""UPDATE {CASE} c SET valid_to = u.valid_to
    FROM unnest($1::text[], $2::int[], $3::timestamptz[]) AS u(case_id, version, valid_to)
    WHERE c.case_id = u.case_id AND c.version = u.version AND c.valid_to IS NULL"""
_FACT_COLUMNS = ("fact_id", "case_id", "kind", "at", "referral_id", "need", "provider_id",
                 "detail")  # fmt: skip
_ON_CONFLICT = "ON CONFLICT (fact_id) DO NOTHING"  # a fact is there once, whoever wrote it
_INSERT_SQL_FACTS = f"""INSERT INTO {REBUILT_FACT} (fact_id, case_id, kind, at, detail)
    SELECT event_id::text, stream_id,
           CASE {_NAME} {" ".join(f"WHEN '{n}' THEN '{k}'" for n, (k, _) in SQL_FACTS.items())}
           END, occurred_at,
           CASE {_NAME} {" ".join(f"WHEN '{n}' THEN {d}" for n, (_, d) in SQL_FACTS.items())}
           END
    FROM "case".event WHERE global_position = ANY($1::bigint[])"""


async def _derive_facts(conn: asyncpg.Connection, positions: list[int]) -> None:
    """The facts the database derives from the events at ``positions`` (into
    ``stat_fact_rebuilt``: a fact the live path wrote meanwhile wins in ``settle_rebuild``)."""
    await conn.execute(_INSERT_SQL_FACTS, positions)


# A batch's rows go by COPY straight into the tables. Only when one is there already (the
# service kept writing while the rebuild ran: the live path's rows win, as its conflict
# rules say) does the batch go again through a temporary table, with those rules.
_STAGED = {CASE: "stat_rebuild_case"}
_CONFLICT = {CASE: "ON CONFLICT DO NOTHING"}


# ``stat_case``'s rows encoded by the fold itself (``shared/pgcopy.py``): its values repeat
# from row to row, and the driver's own encoding of its two arrays alone cost more than
# the whole encoding does with a cache of each value's bytes (docs/statistics.md, "Speed").
_ENCODE_CASE_KINDS = (
    "text", "int4", "timestamptz", "timestamptz", "timestamptz",
    *("text[]" if c in ("categories", FORMS) else "text" for c in DIMENSION_COLUMNS),
)  # fmt: skip
_ENCODE_CASE = pgcopy.Encoder(_ENCODE_CASE_KINDS, keys=_ROW)  # the fold's rows as they are


async def _copy(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], records: list[Any]
) -> None:
    schema, name = (part.strip('"') for part in table.split("."))

    async def send(target: str, target_schema: str | None) -> None:
        if table == CASE:
            await pgcopy.copy(conn, target, columns, records, _ENCODE_CASE, target_schema)
        else:
            await conn.copy_records_to_table(
                target, schema_name=target_schema, records=records, columns=columns
            )

    try:
        async with conn.transaction():  # a savepoint: a conflict undoes this COPY alone
            await send(name, schema)
        return
    except asyncpg.UniqueViolationError:
        pass
    staged = _STAGED[table]
    await conn.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {staged} (LIKE {table}) ON COMMIT DELETE ROWS"
    )
    await send(staged, None)
    cols = ", ".join(columns)
    await conn.execute(
        f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {staged} {_CONFLICT[table]}"
    )


# The case dimensions beside the cases opened in their index (migration 0024 writes the
# same list; ``test_replay_rebuilds_the_same_statistics`` compares the two indexes): a
# count of cases opened reads the index alone, now and, with each row's start, ``as_of``.
_OPENED_INCLUDED = ", ".join(
    x for x in (*CARRIED, "valid_from") if x not in ("categories", "opened_at")
)


# Every dimension carried but the opening, as migration 0026 lists them in the indexes of
# the cases changed since.
_CARRIED_REST = ", ".join(x for x in CARRIED if x != "opened_at")


# The secondary indexes a rebuild drops with its first batch and builds again once at the
# end (``CASE_INDEXES``, ``INDEXES``), as the migrations create them: ``stat_fact``'s
# (0005, 0007; the one by kind and instant holds what a fact question reads since 0027)
# and ``stat_case``'s index of the cases opened (0020, 0024), of its current rows by their
# start (0021, with their opening and id since 0022, their dimensions since 0026), of its
# rows that ended (0026) and of the casualties (0023). An interrupted
# rebuild leaves them missing, so slower questions, until it is resumed or run again.
_SECONDARY = {
    # 0005, with every column a fact question reads since 0027 (read from it alone), the
    # referral too since 0029 (the correction of a count by its outcome as of a day joins
    # it), the referral's last kind and instant since 0030 (a count by its outcome reads them)
    "stat_fact_kind_at": f"""{FACT} (kind, at) INCLUDE (opened_at, need, provider_id, detail,
        referral_id, referral_kind, referral_last_at, {_CARRIED_REST})""",
    # 0005, with what a reading as of a day looks up of each fact since 0029
    "stat_fact_referral": f"{FACT} (referral_id, at) INCLUDE (kind, provider_id)"
    " WHERE referral_id IS NOT NULL",
    # 0007, by kind too since 0032 (the facts counted of the cases changed since a day)
    "stat_fact_case": f"{FACT} (case_id, kind)",
    # 0020, with every other dimension of a case since 0024
    "stat_case_opened": f"""{CASE} (opened_month, categories) INCLUDE ({_OPENED_INCLUDED})
        WHERE valid_to IS NULL AND status <> '{CASUALTY_RECORD}'""",
    # 0021, 0022, with every dimension carried since 0026
    "stat_case_now_from": f"{CASE} (valid_from) INCLUDE (opened_at, case_id, {_CARRIED_REST})"
    " WHERE valid_to IS NULL",
    # 0026: the rows that ended, each with what it stood for (``query._cases_since``)
    "stat_case_ended": f"""{CASE} (valid_to) INCLUDE (valid_from, case_id, status,
        opened_month, opened_at, {_CARRIED_REST}) WHERE valid_to IS NOT NULL""",
    # 0023: as ``query.build_sql`` selects the casualties (the same condition, or the
    # planner cannot prove the index holds them)
    "stat_case_casualty": f"{CASE} (opened_month)"
    " WHERE casualty <> 'none' OR relative_killed <> 'none'",
}


_REFERRAL_CASE = "stat_referral_case"  # as migration 0007 creates it
# The referrals with a fact since an instant, by that fact's instant and their request's,
# first answer's and start of service's (migrations 0028, 0029: ``query._moved`` finds them
# by it).
_REFERRAL_MOVED = "stat_referral_moved"
_REFERRAL_INDEXES = {
    _REFERRAL_CASE: "(case_id)",
    _REFERRAL_MOVED: "((greatest(last_at, provider_at)), requested_at, answered_at, started_at)",
}
_REFERRAL_KEY = "stat_referral_pkey"  # its primary key, as PostgreSQL names it (0007)


async def rebuild_fold(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> None:
    """Fold a batch of ``(global_position, REBUILD_COLUMNS...)`` rows into ``stat_case`` and
    ``stat_fact`` as ``project`` would, event by event: each stream's events in version
    order from its current row; the database derives the facts it can itself."""
    for name in _SECONDARY:  # fewer indexes while the rebuild writes (``finish_rebuild``)
        await conn.execute(f'DROP INDEX IF EXISTS "case".{name}')
    streams: dict[str, list[asyncpg.Record]] = {}
    for r in rows:
        if r[6] is not None:
            streams.setdefault(r[1], []).append(r)
    found = await conn.fetch(
        f"SELECT {', '.join(_ROW)} FROM {CASE}"
        " WHERE case_id = ANY($1::text[]) AND valid_to IS NULL",
        list(streams),
    )
    current = {r["case_id"]: dict(r) for r in found}
    with_facts = [r[0] for r in rows if r[7]]
    if with_facts:  # the database derives them while the loop below computes (two cores)
        derived = asyncio.ensure_future(_derive_facts(conn, with_facts))
        try:
            new_rows, closes, facts = await _fold_streams(streams, current)
        finally:
            await derived  # the connection takes no other statement meanwhile
    else:
        new_rows, closes, facts = await _fold_streams(streams, current)
    if closes:
        await conn.execute(_CLOSE_ROWS, *map(list, zip(*closes, strict=True)))
    if new_rows:
        await _copy(conn, CASE, _ROW, new_rows)
    if facts:  # no key there: a fact the live path wrote meanwhile wins at the end
        await conn.copy_records_to_table(
            _REBUILT_FACT_NAME, schema_name="case", records=facts,
            columns=_FACT_COLUMNS,
        )  # fmt: skip


async def _fold_streams(
    streams: dict[str, list[asyncpg.Record]], current: dict[str, dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[tuple[str, int, datetime]], list[Fact]]:
    """Each stream's events in version order from its current row: the rows to add, the
    stored rows to close, the requests' facts. Yields now and then, so that a statement
    running meanwhile is sent and answered."""
    closes: list[tuple[str, int, datetime]] = []
    new_rows: list[dict[str, Any]] = []
    facts: list[Fact] = []
    for n, (case_id, events) in enumerate(streams.items()):
        if n % 2_000 == 0:
            await asyncio.sleep(0)
        if len(events) > 1:
            events.sort(key=_VERSION)
        row = current.get(case_id)
        stored = row is not None  # the current row is in the table (else: in new_rows)
        for _, _, version, at, eid, name, data, _ in events:
            d = orjson.loads(data)
            if name == "ReferralRequested":
                facts += case_facts(name, case_id, eid, at, d)
                continue
            if name == "CasualtyRecorded":
                if row is None:  # else: ON CONFLICT DO NOTHING
                    row = casualty_row(case_id, version, at, d)
                    new_rows.append(row)
                continue
            if name == "CaseOpened":
                if row is None:  # else: ON CONFLICT DO NOTHING
                    row = _opened_row(case_id, version, at, d)
                    new_rows.append(row)
                continue
            change = dimension_change(name, d)
            if change is None or row is None or row["version"] >= version:
                continue  # no change, no row, or the version guard refuses
            if stored:
                closes.append((case_id, row["version"], at))
                stored = False
            else:
                row["valid_to"] = at
            row = _next_row(row, change, version, at)
            new_rows.append(row)
    return new_rows, closes, facts


_VERSION = operator.itemgetter(2)
_OPENED_DEFAULTS = dict.fromkeys(DIMENSION_COLUMNS, "unknown") | {
    "status": "open", "identification": "none",
} | dict.fromkeys(
    ("victim", "casualty", "device_type", "incident_year", "incident_district",
     "relative_killed", *CATEGORY_FACT_COLUMNS), "none"
) | {FORMS: ["none"]}  # fmt: skip


def _opened_row(case_id: str, version: int, at: datetime, d: dict[str, Any]) -> dict[str, Any]:
    """A case's first ``stat_case`` row, as its ``CaseOpened`` (data ``d``) gives it."""
    return _OPENED_DEFAULTS | {
        "case_id": case_id, "version": version, "valid_from": at, "valid_to": None,
        "opened_at": at, "categories": d["categories"], "region": d["region"],
    }  # fmt: skip


def _next_row(
    row: dict[str, Any], change: dict[str, Any], version: int, at: datetime
) -> dict[str, Any]:
    """The row an event at ``version`` that sets ``change`` opens after ``row``."""
    return {**row, **change, "version": version, "valid_from": at, "valid_to": None}


# The received referral events recorded in the timeline, as ``received_facts`` reads them.
# Derived while the case events are folded (``derive_received``, beside the batches): they
# do not read what the fold writes. A fact that does not name its need takes the least
# need of its referral's received lifecycle facts, joined as it is inserted; the requests'
# needs, folded meanwhile, are taken into account at the end (``_FILL_NEEDS``), for the few
# referrals where they change it.
_RECEIVED_NAME = "split_part(event_type, '.', 4)"
_REFOLD_RECEIVED = f"""WITH received AS (
        SELECT event_id::text AS fact_id, data->>'case_id' AS case_id,
           CASE {_RECEIVED_NAME} {
    " ".join(f"WHEN '{n}' THEN '{k}'" for n, k in REFERRAL_FACTS.items())
} END AS kind,
           occurred_at AS at, data->>'referral_id' AS referral_id, data->>'need' AS need,
           data->>'provider_id' AS provider_id,
           CASE WHEN {_RECEIVED_NAME} = 'ReferralRouted' THEN data->>'attempt'
                WHEN {_RECEIVED_NAME} = 'ServiceOutcomeRecorded' THEN data->>'outcome'
                ELSE coalesce(nullif(data->>'reason_code', ''), nullif(data->>'cause', ''))
           END AS detail
        FROM "case".case_timeline
        WHERE service = 'referral' AND jsonb_typeof(data->'case_id') = 'string'
          AND {_RECEIVED_NAME} IN ({", ".join(f"'{n}'" for n in REFERRAL_FACTS)})),
    needs AS (
        SELECT referral_id, min(need) AS need FROM received
        WHERE referral_id IS NOT NULL AND need IS NOT NULL AND kind IN ({LIFECYCLE})
        GROUP BY referral_id)
    INSERT INTO {REBUILT_FACT} (fact_id, case_id, kind, at, referral_id, need, provider_id,
        detail)
    SELECT r.fact_id, r.case_id, r.kind, r.at, r.referral_id, coalesce(r.need, n.need),
           r.provider_id, r.detail
    FROM received r LEFT JOIN needs n ON n.referral_id = r.referral_id"""


async def derive_received(conn: asyncpg.Connection) -> None:
    """The referral facts again from the received events the timeline recorded, beside the
    fold of the case events (``Projection.alongside``), into ``stat_fact_rebuilt`` (as the
    fold's facts: ``settle_rebuild`` writes them on with their case's dimensions)."""
    # Memory for this transaction alone: the received facts (the statement reads them twice)
    # and their needs' hash, some 60 MB for 100,000 cases, spilled to disk at the default.
    await conn.execute("SET LOCAL work_mem = '256MB'")
    # A hash join, whatever the statistics say: the planner guesses a few hundred received
    # facts from their filter; on a 100,000-case store never analysed, this statement ran
    # for over 16 minutes (stopped) where the hash join takes seconds.
    await conn.execute("SET LOCAL enable_nestloop = off")
    await conn.execute(_REFOLD_RECEIVED)


# The secondary indexes built once over all the rows, faster than kept row by row:
# ``stat_case``'s beside ``settle_rebuild``, which only reads that table
# (``Projection.settle_indexes``), ``stat_fact``'s beside ``finish_rebuild``, once the
# settle has written the facts (``Projection.indexes``).
CASE_INDEXES, INDEXES = (
    tuple(
        f"CREATE INDEX IF NOT EXISTS {name} ON {table}"
        for name, table in _SECONDARY.items()
        if table.startswith(f"{on} ")
    )
    for on in (CASE, FACT)
)


_CARRIED_FROM_NOW = f"""UPDATE {FACT} t SET {_SET_CARRIED} FROM {CASE} c
    WHERE t.region IS NULL AND c.case_id = t.case_id AND c.valid_to IS NULL"""
# Each referral's last kind and its instant, as its facts folded in the rebuild give them
# (as ``_fold`` gives ``last_kind`` and ``last_at``), for its facts' ``referral_kind`` and
# ``referral_last_at``: a fact the live path wrote meanwhile may change them, which the
# finish corrects (``_FILL_NEEDS``).
_REBUILT_KINDS = f"""SELECT referral_id, {_from_last_key({k: k for k in _LAST_ORDER})} AS kind,
        last_at
    FROM (SELECT referral_id, max({_LAST_KEY}) AS last_key, max(at) AS last_at
          FROM {REBUILT_FACT} WHERE referral_id IS NOT NULL AND kind IN ({_LAST_KINDS})
          GROUP BY referral_id) k"""
_SETTLE_FACTS = f"""INSERT INTO {FACT} ({", ".join(_FACT_COLUMNS)}, referral_kind,
        referral_last_at, {_CARRIED_LIST})
    SELECT {", ".join(f"s.{x}" for x in _FACT_COLUMNS)}, k.kind, k.last_at, {_FROM_CASE}
    FROM {REBUILT_FACT} s LEFT JOIN {CASE} c ON c.case_id = s.case_id AND c.valid_to IS NULL
        LEFT JOIN ({_REBUILT_KINDS}) k ON k.referral_id = s.referral_id
    {_ON_CONFLICT}"""


_FACT_KEY = "stat_fact_pkey"  # ``stat_fact``'s primary key, as PostgreSQL names it (0005)


async def settle_rebuild(conn: asyncpg.Connection) -> None:
    """Once the case events are folded and the received facts derived (``Projection.settle``,
    before ``finish_rebuild`` and the indexes): the facts written into ``stat_fact`` with
    their case's dimensions as they now stand, in one statement (carrying them onto the
    facts afterwards, an update of every row, took twice as long as the whole write)."""
    # The table is this transaction's alone while it runs: the live path's writes wait (those
    # under way commit first), so every fact it wrote before its case's row was folded is
    # found here, and every one it writes after carries the row; a reading waits too (a few
    # seconds, once per rebuild), as the key is dropped below. Taken whole at once: a lock
    # raised from a weaker one could wait on a reading that waits on it.
    await conn.execute(f"LOCK TABLE {FACT} IN ACCESS EXCLUSIVE MODE")
    await conn.execute(_CARRIED_FROM_NOW)  # the live path's facts that carry no row yet
    await conn.execute("SET LOCAL work_mem = '256MB'")  # the cases' rows hashed in memory
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")  # the key sorted in memory
    try:  # in a savepoint: the rows written without the key, which is built after them (a
        # third of the time kept row by row, docs/statistics.md "Speed", eleventh round); a
        # fact the live path wrote too fails the key, and the conflict rule writes the rest
        async with conn.transaction():
            await conn.execute(f"ALTER TABLE {FACT} DROP CONSTRAINT {_FACT_KEY}")
            await conn.execute(_SETTLE_FACTS.replace(_ON_CONFLICT, ""))
            await conn.execute(
                f"ALTER TABLE {FACT} ADD CONSTRAINT {_FACT_KEY} PRIMARY KEY (fact_id)"
            )
    except asyncpg.UniqueViolationError:
        await conn.execute(_SETTLE_FACTS)
    await conn.execute(f"TRUNCATE {REBUILT_FACT}")


async def finish_rebuild(conn: asyncpg.Connection) -> None:
    """After the case events and the received facts (``derive_received``), beside the build
    of the secondary indexes (``INDEXES``): ``stat_referral`` folded from all the facts,
    the needs the requests give, and the provider kinds from the directory events
    received."""
    # Memory for this transaction alone: the sort of every referral's facts and of its
    # index, some 60 MB for 100,000 cases, spilled to disk at the default 4 MB.
    await conn.execute("SET LOCAL work_mem = '256MB'")
    await conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    # ``stat_referral``'s primary key and indexes (by case, 0007; of the referrals with a
    # fact since an instant, 0028) built after its rows, not kept row by row: the fold
    # hashes, so its rows come in no order, and the insert took about a third longer with
    # the key kept. In this transaction, which holds the table from its TRUNCATE to its
    # commit (the live path's upserts wait, and find the key and indexes): an interrupted
    # rebuild leaves them as they were.
    await conn.execute(f"TRUNCATE {REFERRAL}")
    for name in _REFERRAL_INDEXES:
        await conn.execute(f'DROP INDEX IF EXISTS "case".{name}')
    await conn.execute(f"ALTER TABLE {REFERRAL} DROP CONSTRAINT IF EXISTS {_REFERRAL_KEY}")
    await conn.execute(f"DELETE FROM {PROVIDER}")  # filled again from the events alone,
    await conn.execute(_REFOLD_PROVIDERS)  # before the referral rows that carry the kinds
    await conn.execute(
        f"""INSERT INTO {REFERRAL} ({REFERRAL_COLUMNS}, provider_type, {_CARRIED_LIST})
            SELECT r.*, p.org_type, {_FROM_CASE} FROM ({referral_rows_sql()}) r
            LEFT JOIN {CASE} c ON c.case_id = r.case_id AND c.valid_to IS NULL
            LEFT JOIN {PROVIDER} p ON p.provider_id = r.provider_id"""
    )
    await conn.execute(
        f"ALTER TABLE {REFERRAL} ADD CONSTRAINT {_REFERRAL_KEY} PRIMARY KEY (referral_id)"
    )
    for name, key in _REFERRAL_INDEXES.items():
        await conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {REFERRAL} {key}")
    await conn.execute(_FILL_NEEDS)


# Each provider's kind from the directory events received: the newest version wins, as
# ``record_received`` keeps it (the consumer, running meanwhile, waits for this transaction
# and then applies the same rule).
_REFOLD_PROVIDERS = f"""INSERT INTO {PROVIDER} AS p (provider_id, org_type, version)
    SELECT DISTINCT ON (provider_id) provider_id, org_type, version
    FROM {RECEIVED_DIRECTORY} ORDER BY provider_id, version DESC
    ON CONFLICT (provider_id) DO UPDATE SET org_type = excluded.org_type,
        version = excluded.version
    WHERE p.version < excluded.version"""


# The need of each fact that does not name its own: its referral's (``stat_referral.need``,
# the least need of all the referral's lifecycle facts), as ``_FACT_SQL`` takes it live.
# Facts the live path wrote without one while the rebuild ran, and received facts whose
# need came from the received facts alone where a request's need is less (or the only
# one): few rows or none, so the timeline is read only for the facts that differ. And in
# the same pass (one join of the facts to their referrals), each fact's referral kind and
# instant where they are not its referral's last kind and instant as folded: a fact the
# live path wrote or merged while the rebuild ran (``_REBUILT_KINDS`` folded the rebuilt
# facts alone); few or none.
_RECEIVED_KINDS = ", ".join(f"'{k}'" for k in REFERRAL_FACTS.values())
_NEED_FILLED = f"""d.need_differs AND (d.missing OR (d.kind IN ({_RECEIVED_KINDS})
           AND EXISTS (SELECT 1 FROM "case".case_timeline t
                       WHERE t.event_id = d.fact_id::uuid AND t.service = 'referral'
                         AND t.data->>'need' IS NULL)))"""
_LAST_DIFFERS = "(f.referral_kind, f.referral_last_at) IS DISTINCT FROM (r.last_kind, r.last_at)"
_FILL_NEEDS = f"""WITH differ AS MATERIALIZED (
        SELECT f.fact_id, f.kind, f.need IS NULL AS missing, r.need, r.last_kind, r.last_at,
            r.need IS NOT NULL AND f.need IS DISTINCT FROM r.need AS need_differs,
            {_LAST_DIFFERS} AS kind_differs
        FROM {FACT} f JOIN {REFERRAL} r ON f.referral_id = r.referral_id
        WHERE (r.need IS NOT NULL AND f.need IS DISTINCT FROM r.need) OR {_LAST_DIFFERS})
    UPDATE {FACT} f SET need = CASE WHEN {_NEED_FILLED} THEN d.need ELSE f.need END,
        referral_kind = d.last_kind, referral_last_at = d.last_at
    FROM differ d
    WHERE f.fact_id = d.fact_id AND (d.kind_differs OR {_NEED_FILLED})"""
