"""Break the glass outside the domain: who may, the grant's write, and the report.

A caseworker or supervisor for whom the case is out of scope asks for emergency access
with a written reason; the reason is sealed under the case key before the domain sees
it, the grant (``EmergencyAccessGranted``) is appended and goes on the case's history in
the same transaction, and notify tells the owning office's supervisors at once (it
consumes the event). Reads under a grant go through ``may_read``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.case.app.handling import CaseNotVisible, actor_of, visible
from services.case.app.loading import load_case
from services.case.app.sealing import seal_text
from services.case.app.timeline import record_own_events
from services.case.domain import Case, decide
from services.case.domain.emergency import BreakGlass, has_emergency_access
from services.case.domain.errors import IdentityErasedError
from shared.auth import Principal
from shared.crypto import PgKeyStore
from shared.eventstore import EventStore, NewEvent


class InScopeAlready(Exception):
    """The case is within the caller's scope: there is no glass to break."""


@dataclass(frozen=True)
class Granted:
    grant_id: str
    expires_at: datetime
    version: int


def may_read(principal: Principal, case: Case | None, now: datetime) -> bool:
    """In scope, or holding a running emergency grant on the case."""
    if case is None:
        return False
    return visible(principal, case) or (
        principal.role in ("caseworker", "supervisor")
        and has_emergency_access(case, principal.sub, now)
    )


async def break_glass(
    conn: asyncpg.Connection,
    store: EventStore,
    keys: PgKeyStore,
    principal: Principal,
    case_id: str,
    *,
    grant_id: str,
    reason: str,
    minutes: int,
    now: datetime,
    correlation_id: str,
) -> Granted:
    loaded = await load_case(store, case_id, conn=conn)
    case = loaded.state
    if case is None:
        raise CaseNotVisible()
    if visible(principal, case):
        raise InScopeAlready()
    if case.identity_erased:
        raise IdentityErasedError("open it in an emergency")
    key = await keys.get(case_id, conn)
    command = BreakGlass(
        grant_id=grant_id,
        who=principal.sub,
        role=principal.role,  # the route admits caseworkers and supervisors only
        reason=seal_text(key, case_id, reason),
        expires_at=now + timedelta(minutes=minutes),
    )
    events = decide(case, command, now)
    stored = await store.append(
        case_id,
        loaded.version,
        [NewEvent(e, actor_of(principal), correlation_id, occurred_at=now) for e in events],
        conn=conn,
    )
    await record_own_events(conn, stored)
    return Granted(grant_id, command.expires_at, stored[-1].stream_version)


async def break_glass_report(
    pool: asyncpg.Pool, region: str | None, since: datetime | None
) -> list[dict[str, Any]]:
    """Every grant (newest first), of the owning region when given, with the number of
    identifying reads the grantee made on the case while it ran (from the access log)."""
    rows = await pool.fetch(
        """SELECT g.stream_id AS case_id, g.occurred_at AS granted_at, g.data::text AS data
           FROM "case".event g
           WHERE g.event_type LIKE 'org.safepath.case.EmergencyAccessGranted.%'
             AND ($1::text IS NULL OR g.data->>'owning_region' = $1)
             AND ($2::timestamptz IS NULL OR g.occurred_at >= $2)
           ORDER BY g.occurred_at DESC LIMIT 1000""",
        region,
        since,
    )
    report = []
    for r in rows:
        d = json.loads(r["data"])
        expires_at = datetime.fromisoformat(d["expires_at"])
        reads = await pool.fetchval(
            """SELECT count(*) FROM "case".event WHERE stream_id = $1
               AND event_type LIKE 'org.safepath.case.CaseAccessed.%'
               AND data->>'who' = $2 AND occurred_at >= $3 AND occurred_at < $4""",
            "access-" + r["case_id"],
            d["who"],
            r["granted_at"],
            expires_at,
        )
        report.append(
            {
                "case_id": r["case_id"],
                "grant_id": d["grant_id"],
                "who": d["who"],
                "role": d["role"],
                "granted_at": r["granted_at"],
                "expires_at": expires_at,
                "owning_office": d.get("owning_office"),
                "owning_region": d["owning_region"],
                "identifying_reads": int(reads),
            }
        )
    return report
