"""The statistics read model: what each event adds to ``stat_case``, ``stat_fact`` and
``stat_provider`` (docs/statistics.md).

Two kinds of input, one place:

- the case's own events (``project``): in the transaction of their append, like
  ``case_summary``; each dimension change closes the case's current ``stat_case`` row and
  opens the next (guarded by the stream version, so projecting twice changes nothing);
- the referral service's events this service already receives for the case timeline
  (``record_received``, in the consumer's inbox transaction): referral facts keyed by event
  id, and each provider's kind from the directory events.

``safepath replay --service case --projection statistics`` empties the tables built from
the case's events and replays the case store through ``project``, then derives the
referral facts again from the received events recorded in ``case_timeline``
(``refold_received``), with the same function the consumer uses (``received_facts``).
``stat_provider`` is kept: directory events are not part of any case's timeline (replay the
referral stream to the consumer to rebuild it, as for the timeline).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from shared.envelope import Envelope
from shared.eventstore import StoredEvent

CASE = '"case".stat_case'
FACT = '"case".stat_fact'
PROVIDER = '"case".stat_provider'
TABLES = (CASE, FACT)  # what a rebuild empties (stat_provider: see above)

DIMENSION_COLUMNS = (
    "status", "categories", "sex", "age_band", "disability", "disability_kind", "region",
    "district", "identification", "nationality_group", "victim", "casualty", "device_type",
    "incident_year", "incident_district",
)  # fmt: skip
_CASE_TYPES = "org.safepath.case."
_FACT_SQL = f"""INSERT INTO {FACT} (fact_id, case_id, kind, at, referral_id, need, provider_id,
        detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (fact_id) DO NOTHING"""
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


def dimension_change(event: StoredEvent) -> dict[str, Any] | None:
    """The dimensions ``event`` sets on its case (None: it changes none)."""
    d = event.data
    match event.event_name:
        case "SurvivorProfileRecorded" | "SurvivorProfileUpdated":
            return _profile_dimensions(d["profile"])
        case "IdentificationRecorded":
            return {"identification": d["status"]}
        case "CaseClosed":
            return {"status": "closed"}
        case "CaseReopened":
            return {"status": "open"}
        case _:
            return None


def case_facts(event: StoredEvent) -> list[Fact]:
    """What ``event`` (a case event) adds to ``stat_fact``."""
    eid, case_id, at, d = str(event.event_id), event.stream_id, event.occurred_at, event.data
    match event.event_name:
        case "CaseOpened":
            return [(eid, case_id, "case_opened", at, None, None, None, None)]
        case "CaseClosed":
            return [(eid, case_id, "case_closed", at, None, None, None, d["reason"])]
        case "IdentificationRecorded":
            return [(eid, case_id, "identification", at, None, None, None, d["status"])]
        case "ReferralRequested":
            request = uuid.UUID(d["referral_id"])
            return [
                (f"{eid}/{need}", case_id, "referral_requested", at,
                 str(uuid.uuid5(request, need)), need, None, d["urgency"])
                for need in d["needs"]
            ]  # fmt: skip
        case _:
            return []


_OPEN_SQL = f"""INSERT INTO {CASE} (case_id, version, valid_from, opened_at, status,
        categories, sex, age_band, disability, disability_kind, region, district,
        identification, nationality_group, victim, casualty, device_type, incident_year,
        incident_district)
    VALUES ($1, $2, $3, $3, 'open', $4, 'unknown', 'unknown', 'unknown', 'unknown', $5,
            'unknown', 'none', 'unknown', 'none', 'none', 'none', 'none', 'none')
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
    """Apply case events (in stream order) to the statistics tables."""
    facts: list[Fact] = []
    for event in events:
        if not event.event_type.startswith(_CASE_TYPES) or event.stream_id.startswith("access-"):
            continue
        at = event.occurred_at
        if event.event_name == "CaseOpened":
            d = event.data
            await conn.execute(
                _OPEN_SQL, event.stream_id, event.stream_version, at, d["categories"], d["region"]
            )
        elif (change := dimension_change(event)) is not None:
            columns = list(change)
            await conn.execute(
                _change_sql(columns),
                event.stream_id,
                event.stream_version,
                at,
                *(change[c] for c in columns),
            )
        facts += case_facts(event)
    if facts:
        await conn.executemany(_FACT_SQL, facts)


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
        detail = str(data.get("attempt"))
    return [
        (event_id, case_id, kind, at, data.get("referral_id"), data.get("need"),
         data.get("provider_id"), detail)
    ]  # fmt: skip


async def record_received(conn: asyncpg.Connection, env: Envelope) -> None:
    """Apply a received referral-service event (inside the consumer's inbox transaction)."""
    if env.event_name in ("ProviderRegistered", "ProviderUpdated"):
        provider = env.data["provider"]
        await conn.execute(
            f"""INSERT INTO {PROVIDER} AS p (provider_id, org_type, version) VALUES ($1, $2, $3)
                ON CONFLICT (provider_id) DO UPDATE SET org_type = excluded.org_type,
                    version = excluded.version
                WHERE p.version < excluded.version""",
            provider["id"],
            provider["org_type"],
            env.streamversion,
        )
        return
    facts = received_facts(env.id, env.event_name, env.time, env.data)
    if facts:
        await conn.executemany(_FACT_SQL, facts)


async def refold_received(conn: asyncpg.Connection) -> None:
    """Derive the referral facts again from the received events in ``case_timeline``."""
    rows = await conn.fetch(
        """SELECT event_id::text, split_part(event_type, '.', 4) AS name, occurred_at,
                  data::text
           FROM "case".case_timeline WHERE service = 'referral'"""
    )
    facts: list[Fact] = []
    for r in rows:
        facts += received_facts(r[0], r[1], r[2], json.loads(r[3]))
    if facts:
        await conn.executemany(_FACT_SQL, facts)
