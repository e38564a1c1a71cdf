"""Break the glass: emergency access to a case outside one's scope, and the auditors'
report of every such access (docs/case-domain.md, "Break the glass")."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.case.app.emergency import InScopeAlready, break_glass, break_glass_report
from services.case.entrypoints.deps import Service
from services.case.entrypoints.routes_cases import CaseId
from services.case.entrypoints.schemas import Body
from shared.auth import CurrentPrincipal, require_roles
from shared.ids import uuid7
from shared.problems import ProblemError, forbidden, problem_responses
from shared.times import UtcDatetime

router = APIRouter(tags=["break the glass"])


class BreakGlassIn(Body):
    reason: str = Field(
        min_length=10,
        max_length=2000,
        description="Why you must open this case now (sealed under the case key).",
        examples=["Brought unconscious to Khorog hospital; her caseworker cannot be reached."],
    )


class EmergencyAccessOut(BaseModel):
    id: str
    grant_id: str
    expires_at: datetime
    version: int


class BreakGlassEntry(BaseModel):
    case_id: str
    grant_id: str
    who: str
    role: str
    granted_at: datetime
    expires_at: datetime
    owning_office: str | None
    owning_region: str
    identifying_reads: int = Field(description="Reads recorded in the access log meanwhile.")


@router.post(
    "/cases/{case_id}/break-glass",
    summary="Open a case outside your scope in an emergency (reason, time limit, recorded)",
    dependencies=[Depends(require_roles("caseworker", "supervisor"))],
    response_model=EmergencyAccessOut,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def post_break_glass(
    request: Request, case_id: CaseId, body: BreakGlassIn, principal: CurrentPrincipal, svc: Service
) -> JSONResponse:
    sid, grant_id = str(case_id), str(uuid7())

    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        try:
            granted = await break_glass(
                conn,
                svc.store,
                svc.writes.keys,
                principal,
                sid,
                grant_id=grant_id,
                reason=body.reason,
                minutes=svc.config.break_glass_minutes,
                now=svc.clock(),
                correlation_id=request.state.correlation_id,
            )
        except InScopeAlready:
            raise ProblemError(
                409,
                detail="The case is in your scope: no emergency access is needed.",
                type_suffix="in_scope",
            ) from None
        out = EmergencyAccessOut(
            id=sid,
            grant_id=granted.grant_id,
            expires_at=granted.expires_at,
            version=granted.version,
        )
        return 200, out, {}

    return await svc.http.run(request, principal, None, body, work)


@router.get(
    "/audit/break-glass",
    summary="Every emergency access: who, which case, until when, how many reads",
    dependencies=[Depends(require_roles("auditor", "supervisor", "admin"))],
    responses=problem_responses(401, 403, 422),
)
async def get_break_glass_report(
    principal: CurrentPrincipal,
    svc: Service,
    since: Annotated[UtcDatetime | None, Query(description="RFC 3339, inclusive.")] = None,
) -> list[BreakGlassEntry]:
    """Auditors (of their region, if their token names one), supervisors of their region,
    admins all. No reason in clear: it stays sealed in the case's history."""
    region = principal.region
    if principal.role == "supervisor" and region is None:
        raise forbidden("A supervisor's token must name a region.")
    rows: list[dict[str, Any]] = await break_glass_report(
        svc.pool, None if principal.role == "admin" else region, since
    )
    return [BreakGlassEntry(**r) for r in rows]
