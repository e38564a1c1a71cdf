"""The possible duplicates a write answers with (``POST /cases``, ``PUT /cases/{id}/profile``).

Ids and scores only: no identifying field of another case is ever returned, and
``in_scope`` says whether the caller may read that case (``GET /cases/{id}``, recorded).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.case.app.policy import in_scope
from services.case.domain.person_keys import Identity
from services.case.entrypoints.deps import CaseService
from services.case.entrypoints.schemas import PossibleDuplicateOut
from shared.auth import Principal


async def index_and_name(
    conn: asyncpg.Connection,
    svc: CaseService,
    principal: Principal,
    case_id: str,
    who: Identity,
    now: datetime,
    *,
    new_case: bool = False,
) -> list[PossibleDuplicateOut]:
    """Index the case's person (in the write's transaction) and name the cases it may
    duplicate, each marked with whether the caller's scope holds it. ``new_case``: opened
    in this transaction (no keys of its own to replace)."""
    found = await svc.index.index(conn, case_id, who, now, new_case=new_case)
    if not found:
        return []
    rows = await conn.fetch(
        f"SELECT case_id, region, office, caseworker FROM {svc.index.q}.case_summary"
        " WHERE case_id = ANY($1::text[])",
        [d.case_id for d in found],
    )
    scope = {
        r["case_id"]: in_scope(
            principal, region=r["region"], office=r["office"], caseworker=r["caseworker"]
        )
        for r in rows
    }
    return [
        PossibleDuplicateOut(case_id=d.case_id, score=d.score, in_scope=scope.get(d.case_id, False))
        for d in found
    ]
