"""Open, list and read cases."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.case.app.duplicates import identity_of
from services.case.app.emergency import may_read
from services.case.app.policy import (
    READ_ROLES,
    WRITE_ROLES,
    scope_filter,
    sees_identifying,
)
from services.case.app.projection import BadCursor, decode_cursor, list_cases
from services.case.app.reading import case_view, record_access, with_referral_status
from services.case.app.sealing import seal_profile
from services.case.app.views import CasePage, CaseSummaryView, CaseView
from services.case.domain import fold
from services.case.domain.commands import OpenCase
from services.case.entrypoints.deps import Service
from services.case.entrypoints.duplicates_found import index_and_name
from services.case.entrypoints.schemas import (
    CaseOpenedOut,
    CaseReference,
    OpenCaseIn,
    PossibleDuplicateOut,
)
from services.case.entrypoints.writes import ETAG_HEADER, LOCATION_HEADER, IdempotencyKey
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.commands import load
from shared.events.case import Office
from shared.events.vocabulary import Category, Region
from shared.http_writes import etag
from shared.ids import uuid7
from shared.problems import forbidden, not_found, problem_responses, unprocessable
from shared.pseudonym import case_reference
from shared.times import UtcDatetime

router = APIRouter(tags=["cases"])

CaseId = Annotated[UUID, Path(description="The case id (a UUID).")]
GET_CASE = "GET /cases/{case_id}"


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOpenedOut,
    summary="Open a case (optionally with the intake profile); lists possible duplicates",
    dependencies=[Depends(require_roles(*WRITE_ROLES))],
    responses={
        201: {"description": "Case opened.", "headers": {**LOCATION_HEADER, **ETAG_HEADER}},
        **problem_responses(401, 403, 422),
    },
)
async def open_case(
    request: Request,
    body: OpenCaseIn,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    office = _office_for(principal, body.office)
    case_id = str(uuid7())

    def build(key: bytes, now: datetime) -> OpenCase:
        profile = None
        if body.profile is not None:
            p = body.profile
            profile = seal_profile(key, case_id, p.identifying(), p.clear(), now)
        return OpenCase(
            caseworker=principal.sub,
            office=office,
            region=body.region,
            categories=body.categories,
            profile=profile,
        )

    async def work(conn: asyncpg.Connection) -> tuple[int, CaseOpenedOut, dict[str, str]]:
        written = await svc.writes.open_case(
            conn, principal, case_id, build, request.state.correlation_id
        )
        found: list[PossibleDuplicateOut] = []
        if body.profile is not None:
            now = svc.clock()
            who = identity_of(body.profile.identifying(), body.profile.sex, now.date())
            found = await index_and_name(conn, svc, principal, case_id, who, now, new_case=True)
        headers = {"Location": f"/cases/{case_id}", "ETag": etag(written.version)}
        answer = CaseOpenedOut(id=case_id, version=written.version, possible_duplicates=found)
        return 201, answer, headers

    return await svc.http.run(request, principal, idempotency_key, body, work)


def _office_for(principal: Principal, office: Office | None) -> str | None:
    """A caseworker opens cases for their own office; others may name one."""
    if principal.role == "caseworker":
        if office is not None and office != principal.office:
            raise forbidden("A caseworker opens cases for their own office only.")
        return principal.office
    return office


@router.get(
    "/cases",
    summary="List cases in your scope (no identifying fields)",
    dependencies=[Depends(require_roles(*READ_ROLES))],
    responses=problem_responses(401, 403, 422),
)
async def list_cases_route(
    principal: CurrentPrincipal,
    svc: Service,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    region: Region | None = None,
    category: Category | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100, description="From `next_cursor`.")] = None,
) -> CasePage:
    try:
        after = decode_cursor(cursor) if cursor is not None else None
    except BadCursor as e:
        raise unprocessable(str(e)) from None
    page, next_cursor = await list_cases(
        svc.pool,
        principal,
        status=status,
        region=region,
        category=category,
        limit=limit,
        after=after,
    )
    return CasePage(items=[CaseSummaryView(**vars(s)) for s in page], next_cursor=next_cursor)


@router.get(
    "/cases/{case_id}",
    summary="Read a case (identifying fields for caseworkers and supervisors, recorded)",
    dependencies=[Depends(require_roles(*READ_ROLES))],
    response_model=CaseView,
    responses={
        200: {"description": "The case.", "headers": ETAG_HEADER},
        **problem_responses(401, 403, 404, 422),
    },
)
async def get_case(
    request: Request,
    case_id: CaseId,
    principal: CurrentPrincipal,
    svc: Service,
    as_of: Annotated[
        UtcDatetime | None,
        Query(description="RFC 3339 time with offset: the case as it was then."),
    ] = None,
    identifying: Annotated[
        bool,
        Query(
            description="`false`: leave the identifying fields out, so nothing is recorded "
            "(the web app shows them only when asked)."
        ),
    ] = True,
) -> JSONResponse:
    sid = str(case_id)
    # Who may see the case is decided on the case as it stands now, never on the past
    # state read with as_of: a case transferred away stays out of reach, then as now.
    current = await load(svc.store, sid, fold)
    case = current.state
    if not may_read(principal, case, svc.clock()):  # in scope, or breaking the glass
        raise not_found("No such case.")
    assert case is not None
    loaded = current if as_of is None else await load(svc.store, sid, fold, as_of=as_of)
    if loaded.state is None:
        raise not_found("No such case at that time.")
    opening = identifying and sees_identifying(principal)
    key = await svc.writes.keys.get(sid) if opening else None
    events = [svc.store.load(e) for e in loaded.events]
    view, fields = case_view(sid, loaded, events, key, as_of or svc.clock())
    if as_of is None:
        await with_referral_status(svc.pool, sid, view)
    if fields:
        # Recorded before the data leaves: no record, no response.
        await record_access(
            svc.store,
            case,
            sid,
            principal,
            fields,
            GET_CASE,
            request.state.correlation_id,
            svc.clock,
        )
    return JSONResponse(view.model_dump(mode="json"), headers={"ETag": etag(loaded.version)})


@router.get(
    "/cases/by-reference/{reference}",
    summary="Find a case in your scope by the pseudonymous reference notifications carry",
    dependencies=[Depends(require_roles(*READ_ROLES))],
    responses=problem_responses(401, 403, 404, 422),
)
async def find_by_reference(
    reference: Annotated[
        str, Path(pattern=r"^SP-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}$")
    ],
    principal: CurrentPrincipal,
    svc: Service,
) -> CaseReference:
    """Notifications about a case (a reflection period ending) name it only by its keyed
    reference; its caseworker finds it here, among the cases of their own scope (404 for
    anything else, alike whether it exists)."""
    key = svc.settings.case_reference_key.encode()
    condition, args = scope_filter(principal, 1)
    async with svc.pool.acquire() as conn:
        rows = await conn.fetch(f'SELECT case_id FROM "case".case_summary WHERE {condition}', *args)
    for row in rows:
        if case_reference(key, row["case_id"]) == reference:
            return CaseReference(id=row["case_id"], case_reference=reference)
    raise not_found("No such case.")
