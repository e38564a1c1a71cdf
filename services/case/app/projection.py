"""``case_summary``: the list view of cases, projected from the case events.

``project`` maps each stored event to one statement, using nothing but the event, so the
table can be rebuilt from the store at any time (``rebuild_case_summary``). It runs in the
transaction of the append, so the list never shows a case the store does not hold. Every
update is guarded by the stream version, so projecting an event twice changes nothing.
Only clear routing fields are projected: never anything sealed.
"""

from __future__ import annotations

import base64
import binascii
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


async def project(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    """Apply ``events`` (of case streams, in stream order) to ``case_summary``."""
    for event in events:
        if not event.event_type.startswith("org.safepath.case."):
            continue
        statement = _statement(event)
        if statement is not None:
            sql, args = statement
            await conn.execute(sql, *args)


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
