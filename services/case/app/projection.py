"""``case_summary``: the list view of cases, projected from the case events.

``project`` maps each stored event to one statement, using nothing but the event, so the
table can be rebuilt from the store at any time (``rebuild_case_summary``). It runs in the
transaction of the append, so the list never shows a case the store does not hold. Every
update is guarded by the stream version, so projecting an event twice changes nothing.
Only clear routing fields are projected: never anything sealed.

``rebuild_fold`` is the set-based rebuild (``safepath replay``): it reads only the columns
below, folds each stream's events of a batch in memory with the same rules (the row as it
stands, then each event in stream order under the same guard), and writes the changed
rows with one ``unnest`` upsert. ``tests/integration/case/test_replay.py`` proves it
leaves the table exactly as ``project`` does.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.case.app.policy import scope_filter
from shared.auth import Principal
from shared.eventstore import Checkpoint, EventStore, StoredEvent

TABLE = '"case".case_summary'
_GUARD = "WHERE case_id = $1 AND version < $2"
_CASE_TYPES = "org.safepath.case."


def _statement(event: StoredEvent) -> tuple[str, list[Any]] | None:
    """The upsert ``event`` causes, or None when it does not touch the summary."""
    d = event.data
    head: list[Any] = [event.stream_id, event.stream_version, event.occurred_at]
    touch = "version = $2, updated_at = $3"
    match event.event_name:
        case "CaseOpened":
            return (
                f"""INSERT INTO {TABLE} (case_id, version, opened_at, updated_at, status, region,
                        categories, office, caseworker)
                    VALUES ($1, $2, $3, $3, 'open', $4, $5, $6, $7)
                    ON CONFLICT (case_id) DO NOTHING""",
                [*head, d["region"], d["categories"], d.get("office"), d["caseworker"]],
            )
        case "SurvivorProfileRecorded" | "SurvivorProfileUpdated":
            p = d["profile"]
            return (
                f"UPDATE {TABLE} SET {touch}, region = $4, district = $5, categories = $6 {_GUARD}",
                [*head, p["region"], p.get("district"), p["categories"]],
            )
        case "CaseClosed":
            return f"UPDATE {TABLE} SET {touch}, status = 'closed' {_GUARD}", head
        case "CaseReopened":
            return f"UPDATE {TABLE} SET {touch}, status = 'open' {_GUARD}", head
        case "CaseTransferred":
            return (
                f"UPDATE {TABLE} SET {touch}, caseworker = $4, office = $5 {_GUARD}",
                [*head, d["to_caseworker"], d.get("to_office")],
            )
        case "CaseAccessed":
            return None  # reads are audit records, not changes (and live in access-* streams)
        case _:
            return f"UPDATE {TABLE} SET {touch} {_GUARD}", head


# An intake's two events (``CaseOpened``, then ``SurvivorProfileRecorded``) in one
# statement: the row as the INSERT and then the guarded UPDATE would leave it, one round
# trip instead of two. On a row that exists already (a replay) only the profile's columns
# move, and only if the row is older, exactly as the UPDATE alone would do.
_OPENED_WITH_PROFILE = f"""INSERT INTO {TABLE} (case_id, version, opened_at, updated_at, status,
        region, categories, office, caseworker, district)
    VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9)
    ON CONFLICT (case_id) DO UPDATE SET version = excluded.version,
        updated_at = excluded.updated_at, region = excluded.region,
        district = excluded.district, categories = excluded.categories
    WHERE {TABLE}.version < excluded.version"""


def _opened_with_profile(opened: StoredEvent, profile: StoredEvent) -> tuple[str, list[Any]] | None:
    """The one upsert for ``CaseOpened`` directly followed by its profile, else None."""
    if (
        opened.event_name != "CaseOpened"
        or profile.event_name != "SurvivorProfileRecorded"
        or not profile.event_type.startswith(_CASE_TYPES)
        or profile.stream_id != opened.stream_id
        or profile.stream_version != opened.stream_version + 1
    ):
        return None
    d, p = opened.data, profile.data["profile"]
    return _OPENED_WITH_PROFILE, [
        opened.stream_id, profile.stream_version, opened.occurred_at, profile.occurred_at,
        p["region"], p["categories"], d.get("office"), d["caseworker"], p.get("district"),
    ]  # fmt: skip


async def project(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    """Apply ``events`` (of case streams, in stream order) to ``case_summary``."""
    i = 0
    while i < len(events):
        event = events[i]
        i += 1
        if not event.event_type.startswith(_CASE_TYPES):
            continue
        statement = _statement(event)
        if i < len(events) and (merged := _opened_with_profile(event, events[i])) is not None:
            statement = merged
            i += 1
        if statement is not None:
            sql, args = statement
            await conn.execute(sql, *args)


# -- the set-based rebuild ------------------------------------------------------------------

# What an event does to its case's row, decided in SQL (as ``_statement`` decides it), so
# a batch carries a small number per event instead of its type; data only where needed.
_SKIP, _OPENED, _PROFILE, _CLOSED, _REOPENED, _TRANSFERRED, _TOUCH = range(7)
_NAME = "split_part(event_type, '.', 4)"
REBUILD_COLUMNS = f"""stream_id, stream_version, occurred_at,
    CASE WHEN event_type NOT LIKE '{_CASE_TYPES}%' THEN {_SKIP} ELSE CASE {_NAME}
        WHEN 'CaseAccessed' THEN {_SKIP}
        WHEN 'CaseOpened' THEN {_OPENED}
        WHEN 'SurvivorProfileRecorded' THEN {_PROFILE}
        WHEN 'SurvivorProfileUpdated' THEN {_PROFILE}
        WHEN 'CaseClosed' THEN {_CLOSED}
        WHEN 'CaseReopened' THEN {_REOPENED}
        WHEN 'CaseTransferred' THEN {_TRANSFERRED}
        ELSE {_TOUCH} END END AS kind,
    CASE WHEN {_NAME} IN ('CaseOpened', 'SurvivorProfileRecorded', 'SurvivorProfileUpdated',
                          'CaseTransferred') THEN data::text END AS data"""
_ROW = (
    "case_id, status, region, district, categories, office, caseworker, opened_at,"
    " updated_at, version"
)
_UPSERT = f"""
    INSERT INTO {TABLE} ({_ROW})
    SELECT u.case_id, u.status, u.region, u.district,
           ARRAY(SELECT jsonb_array_elements_text(u.categories::jsonb)),
           u.office, u.caseworker, u.opened_at, u.updated_at, u.version
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                $7::text[], $8::timestamptz[], $9::timestamptz[], $10::int[])
         AS u(case_id, status, region, district, categories, office, caseworker, opened_at,
              updated_at, version)
    ON CONFLICT (case_id) DO UPDATE SET
        status = excluded.status, region = excluded.region, district = excluded.district,
        categories = excluded.categories, office = excluded.office,
        caseworker = excluded.caseworker, opened_at = excluded.opened_at,
        updated_at = excluded.updated_at, version = excluded.version
    WHERE {TABLE}.version < excluded.version"""


@dataclass(slots=True)
class _Summary:
    """A ``case_summary`` row being folded (mutable: it lives for one batch)."""

    case_id: str
    status: str
    region: str
    district: str | None
    categories: list[str]
    office: str | None
    caseworker: str
    opened_at: datetime
    updated_at: datetime
    version: int

    def values(self) -> tuple[Any, ...]:
        return (
            self.case_id, self.status, self.region, self.district, self.categories,
            self.office, self.caseworker, self.opened_at, self.updated_at, self.version,
        )  # fmt: skip


def _fold(row: _Summary | None, case_id: str, events: list[asyncpg.Record]) -> _Summary | None:
    """``row`` after ``events`` (one stream's, in version order): what ``_statement``'s
    statements do to it, one after the other."""
    for _, _, version, at, kind, data in events:
        if kind == _OPENED:
            if row is None:  # else: ON CONFLICT DO NOTHING
                d = json.loads(data)
                row = _Summary(
                    case_id, "open", d["region"], None, d["categories"], d.get("office"),
                    d["caseworker"], at, at, version,
                )  # fmt: skip
        elif row is not None and row.version < version:  # else: no row, or the guard refuses
            row.version, row.updated_at = version, at
            if kind == _TOUCH:
                continue
            if kind == _PROFILE:
                p = json.loads(data)["profile"]
                row.region, row.district, row.categories = (
                    p["region"],
                    p.get("district"),
                    p["categories"],
                )
            elif kind == _CLOSED:
                row.status = "closed"
            elif kind == _REOPENED:
                row.status = "open"
            elif kind == _TRANSFERRED:
                d = json.loads(data)
                row.caseworker, row.office = d["to_caseworker"], d.get("to_office")
    return row


def _version(event: asyncpg.Record) -> int:
    return int(event[2])


async def rebuild_fold(conn: asyncpg.Connection, rows: Sequence[asyncpg.Record]) -> None:
    """Fold a batch of ``(global_position, REBUILD_COLUMNS...)`` rows, in global order, into
    ``case_summary``: each stream's events in version order onto its row as it stands."""
    streams: dict[str, list[asyncpg.Record]] = {}
    unordered: set[str] = set()
    for r in rows:
        if r[4] == _SKIP:
            continue
        events = streams.get(r[1])
        if events is None:
            streams[r[1]] = [r]
        else:
            if events[-1][2] > r[2]:
                unordered.add(r[1])  # committed out of version order: applied live in order
            events.append(r)
    if not streams:
        return
    found = await conn.fetch(
        f"SELECT {_ROW} FROM {TABLE} WHERE case_id = ANY($1::text[])", list(streams)
    )
    current = {r["case_id"]: _Summary(*r.values()) for r in found}
    changed: list[_Summary] = []
    for case_id, events in streams.items():
        if case_id in unordered:
            events.sort(key=_version)
        row = current.get(case_id)
        version = -1 if row is None else row.version
        row = _fold(row, case_id, events)
        if row is not None and row.version != version:
            changed.append(row)
    if changed:
        columns = list(zip(*(row.values() for row in changed), strict=True))
        categories = [json.dumps(c) for c in columns[4]]
        await conn.execute(_UPSERT, *columns[:4], categories, *columns[5:])


async def rebuild_case_summary(pool: asyncpg.Pool, store: EventStore, batch: int = 1000) -> int:
    """Rebuild ``case_summary`` from every committed event; returns the events read."""
    seen = 0
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(f"DELETE FROM {TABLE}")
        cp = Checkpoint()
        while events := await store.read_all(cp, batch, conn=conn):
            await project(conn, events)
            seen += len(events)
            cp = events[-1].checkpoint
    return seen


# -- the list query ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseSummary:
    id: str
    status: str
    region: str
    district: str | None
    categories: list[str]
    office: str | None
    caseworker: str
    opened_at: datetime
    updated_at: datetime
    version: int


class BadCursor(ValueError):
    pass


def encode_cursor(case_id: str) -> str:
    return base64.urlsafe_b64encode(case_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return str(uuid.UUID(raw))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("the cursor is not one this service handed out") from None


async def list_cases(
    pool: asyncpg.Pool,
    principal: Principal,
    *,
    status: str | None,
    region: str | None,
    category: str | None,
    limit: int,
    after: str | None,
) -> tuple[list[CaseSummary], str | None]:
    """A page of cases in the caller's scope, newest first, and the next page's cursor."""
    scope_sql, args = scope_filter(principal, 1)
    where = [scope_sql]
    for column, value in (("status", status), ("region", region)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if category is not None:
        args.append(category)
        where.append(f"${len(args)} = ANY(categories)")
    if after is not None:
        args.append(after)
        where.append(f"case_id < ${len(args)}")
    args.append(limit + 1)
    rows = await pool.fetch(
        f"""SELECT case_id, status, region, district, categories, office, caseworker,
                   opened_at, updated_at, version
            FROM {TABLE} WHERE {" AND ".join(where)}
            ORDER BY case_id DESC LIMIT ${len(args)}""",
        *args,
    )
    page = [CaseSummary(id=r["case_id"], **{k: r[k] for k in list(r.keys())[1:]}) for r in rows]
    more = len(page) > limit
    page = page[:limit]
    return page, encode_cursor(page[-1].id) if more else None
