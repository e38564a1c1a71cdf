"""The person across cases: assistive devices, family links, and possible duplicates.

Scope (tests/security/test_person_scope.py): a family link needs both cases in the
caller's scope (either out of scope reads as 404, like an unknown case). The duplicates
queue and its decisions are the supervisors': a pair is theirs when at least one of its
cases is in their region, and its entries carry no identifying field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.case.app.duplicates import BadPairCursor, PairPosition
from services.case.app.handling import visible
from services.case.app.pairs import change_pair
from services.case.app.policy import WRITE_ROLES, in_scope
from services.case.domain import Case
from services.case.domain.commands import CaseCommand
from services.case.domain.person import (
    DismissDuplicate,
    LinkFamily,
    LinkSamePerson,
    RecordAssistiveDevice,
    RevertDismissal,
    UnlinkFamily,
    UnlinkSamePerson,
)
from services.case.entrypoints.change import CaseId, Change, doc
from services.case.entrypoints.deps import Service
from services.case.entrypoints.schemas_person import (
    DeviceIn,
    DeviceRecorded,
    DuplicatePage,
    DuplicatePairView,
    FamilyLinkIn,
    PairCase,
    PairIn,
    PairStatus,
    PairWrittenOut,
)
from services.case.entrypoints.writes import IdempotencyKey
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.events.case_person import INVERSE_RELATION
from shared.ids import uuid7
from shared.problems import ProblemFieldError, problem_responses, unprocessable

router = APIRouter(tags=["person"])
writers = [Depends(require_roles(*WRITE_ROLES))]
supervisors = [Depends(require_roles("supervisor"))]
PAIR_ERRORS = problem_responses(401, 403, 404, 409, 422)


@router.post(
    "/cases/{case_id}/assistive-devices",
    dependencies=writers,
    **doc(200, DeviceRecorded, "Record a device fitted, repaired or replaced"),
)
async def post_device(body: DeviceIn, change: Change) -> JSONResponse:
    device_id = body.device_id or str(uuid7())

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return RecordAssistiveDevice(**{**body.model_dump(), "device_id": device_id})

    return await change.run(body, build, model=DeviceRecorded, ids={"device_id": device_id})


async def _pair_write(
    request: Request,
    principal: Principal,
    svc: Service,
    key: str | None,
    body: BaseModel | None,
    pair: tuple[str, str],
    commands: tuple[CaseCommand, CaseCommand],
    *,
    supervisor_pair: bool,
    status: str | None = None,
) -> JSONResponse:
    def may_act(a: Case, b: Case) -> bool:
        if supervisor_pair:  # the queue's rule: one case of the pair in the region
            return visible(principal, a) or visible(principal, b)
        return visible(principal, a) and visible(principal, b)

    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        written = await change_pair(
            svc.store,
            conn,
            principal,
            pair,
            commands,
            may_act=may_act,
            correlation_id=request.state.correlation_id,
            clock=svc.clock,
        )
        if status is not None:
            await svc.index.decide_pair(conn, *pair, status, principal.sub, svc.clock())
        answer = PairWrittenOut(
            case_a=pair[0], case_b=pair[1], version_a=written.version_a, version_b=written.version_b
        )
        return 200, answer, {}

    return await svc.http.run(request, principal, key, body, work)


@router.post(
    "/cases/{case_id}/family-links",
    dependencies=writers,
    response_model=PairWrittenOut,
    summary="Link this case's person to family in another case (both cases in your scope)",
    responses=PAIR_ERRORS,
)
async def post_family_link(
    request: Request,
    case_id: CaseId,
    body: FamilyLinkIn,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    a, b = str(case_id), str(body.other_case_id)
    if a == b:
        raise unprocessable("A case cannot be linked to itself.")
    commands: tuple[CaseCommand, CaseCommand] = (
        LinkFamily(other_case_id=b, relation=body.relation),
        LinkFamily(other_case_id=a, relation=INVERSE_RELATION[body.relation]),
    )
    return await _pair_write(
        request, principal, svc, idempotency_key, body, (a, b), commands, supervisor_pair=False
    )


@router.post(
    "/cases/{case_id}/family-links/{other_case_id}/unlink",
    dependencies=writers,
    response_model=PairWrittenOut,
    summary="Remove a family link (both cases in your scope)",
    responses=PAIR_ERRORS,
)
async def unlink_family(
    request: Request,
    case_id: CaseId,
    other_case_id: CaseId,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    a, b = str(case_id), str(other_case_id)
    commands: tuple[CaseCommand, CaseCommand] = (
        UnlinkFamily(other_case_id=b),
        UnlinkFamily(other_case_id=a),
    )
    return await _pair_write(
        request, principal, svc, idempotency_key, None, (a, b), commands, supervisor_pair=False
    )


@router.get(
    "/duplicates",
    dependencies=supervisors,
    response_model=DuplicatePage,
    summary="Possible duplicates with a case in your region (supervisors; no identifying data)",
    responses=problem_responses(401, 403, 422),
)
async def list_duplicates(
    principal: CurrentPrincipal,
    svc: Service,
    status: PairStatus = "pending",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")] = None,
) -> DuplicatePage:
    try:
        after = PairPosition.from_cursor(cursor) if cursor is not None else None
    except BadPairCursor as e:
        where = ProblemFieldError(path="query.cursor", message=str(e), type="cursor")
        raise unprocessable(str(e), [where]) from None
    rows, next_cursor = await svc.index.pairs(svc.pool, principal, status, limit, after)
    items = []
    for r in rows:
        sides = []
        for s in ("a", "b"):
            region, office = r[f"region_{s}"], r[f"office_{s}"]
            sides.append(
                PairCase(
                    case_id=r[f"case_{s}"],
                    region=region,
                    office=office,
                    status=r[f"status_{s}"],
                    # a supervisor's scope is the region: caseworker is not needed here
                    in_scope=in_scope(principal, region=region, office=office, caseworker=""),
                )
            )
        items.append(
            DuplicatePairView(
                a=sides[0],
                b=sides[1],
                score=round(float(r["score"]), 3),
                status=r["status"],
                found_at=r["found_at"],
                decided_at=r["decided_at"],
                decided_by=r["decided_by"],
            )
        )
    return DuplicatePage(items=items, next_cursor=next_cursor)


_DECISIONS = {
    "link": (LinkSamePerson, "linked"),
    "unlink": (UnlinkSamePerson, "pending"),
    "dismiss": (DismissDuplicate, "dismissed"),
    "reopen": (RevertDismissal, "pending"),
}


def _decision_route(action: str, summary: str) -> None:
    command, status = _DECISIONS[action]

    @router.post(
        f"/duplicates/{action}",
        dependencies=supervisors,
        response_model=PairWrittenOut,
        summary=summary,
        responses=PAIR_ERRORS,
        name=f"duplicates_{action}",
    )
    async def decide_pair(
        request: Request,
        body: PairIn,
        principal: CurrentPrincipal,
        svc: Service,
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        a, b = str(body.case_a), str(body.case_b)
        commands: tuple[CaseCommand, CaseCommand] = (
            command(other_case_id=b),
            command(other_case_id=a),
        )
        return await _pair_write(
            request,
            principal,
            svc,
            idempotency_key,
            body,
            (a, b),
            commands,
            supervisor_pair=True,
            status=status,
        )


_decision_route("link", "Link two cases as one person (events on both; reversible)")
_decision_route("unlink", "Undo a same-person link (the pair is pending again)")
_decision_route("dismiss", "Two different people: dismiss the pair (reversible)")
_decision_route("reopen", "Take back a dismissal (the pair is pending again)")
