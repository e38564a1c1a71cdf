"""Referral routes: providers answer and follow their referrals; case roles read them.

A provider only ever sees referrals it holds (anything else is a 404) and only in the
minimised form; case roles see the case id, the provider and the routing reasons, within
the same scope as case reads, on the case as it stands now (after transfers).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.referral.domain.commands import (
    AcceptReferral,
    CompleteService,
    DeclineReferral,
    StartService,
)
from services.referral.domain.errors import ReferralNotFound
from services.referral.domain.evolve import replay
from services.referral.entrypoints.deps import (
    ETAG_HEADER,
    IdempotencyKey,
    IfMatch,
    actor_of,
    correlation_id,
    etag,
    expected_version,
    reference_key,
    run_write,
    service,
)
from services.referral.entrypoints.schemas import (
    CaseReferral,
    Declined,
    DeclineIn,
    ProviderReferral,
    case_referral,
    provider_referral,
)
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.case_scope import in_scope as case_in_scope
from shared.problems import not_found, problem_responses
from shared.times import UtcDatetime

router = APIRouter(tags=["referrals"])
CASE_ROLES = ("caseworker", "supervisor", "auditor", "admin")
ReferralId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f-]{36}$")]
CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Status = Literal["awaiting_answer", "accepted", "in_service", "completed", "withdrawn"]


def in_scope(principal: Principal, row: Any) -> bool:
    """The case service's scope rule, on the referral's case as it stands now (``scope_*``:
    after transfers and moves, as the case events told us; see ``Projection.get``)."""
    return case_in_scope(
        principal,
        region=row["scope_region"],
        office=row["scope_office"],
        caseworker=row["scope_caseworker"],
    )


@router.get(
    "/providers/{provider_id}/referrals",
    summary="The referrals a provider holds (minimised)",
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(require_roles("provider"))],
)
async def list_provider_referrals(
    request: Request,
    provider_id: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    status: Annotated[Status | None, Query()] = None,
) -> list[ProviderReferral]:
    if provider_id != principal.provider_id:
        raise not_found("No such provider.")
    rows = await service(request).referrals.projection.of_provider(
        request.app.state.runtime.pool, provider_id, status
    )
    key = reference_key(request)
    return [provider_referral(r, key) for r in rows]


@router.get(
    "/referrals/{referral_id}",
    summary="One referral: minimised for its provider, in full for case roles",
    responses={**problem_responses(401, 403, 404, 422), 200: {"headers": ETAG_HEADER}},
)
async def get_referral(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    as_of: Annotated[
        UtcDatetime | None, Query(description="RFC 3339 with offset: the referral as it was then.")
    ] = None,
) -> JSONResponse:
    row = await service(request).referrals.projection.get(
        request.app.state.runtime.pool, referral_id
    )
    body: ProviderReferral | CaseReferral
    if principal.role == "provider":
        if row is None or row["provider_id"] != principal.provider_id:
            raise not_found("No such referral.")
    elif row is None or not in_scope(principal, row):
        raise not_found("No such referral.")
    if as_of is not None:  # who may see it was decided on the referral as it is now
        row = await _as_of(request, row, referral_id, as_of)
    if principal.role == "provider":
        body = provider_referral(row, reference_key(request))
    else:
        body = case_referral(row)
    return JSONResponse(body.model_dump(mode="json"), headers={"ETag": etag(row["version"])})


async def _as_of(request: Request, row: Any, referral_id: str, as_of: datetime) -> Any:
    """The view row with the lifecycle fields replayed from the events up to ``as_of``.

    Who may see the referral is decided on the current row, as for a plain read."""
    if row is None:
        return None
    store = request.app.state.runtime.store
    stored = await store.read_stream(referral_id, up_to_time=as_of)
    state = replay([store.load(e) for e in stored])
    if state is None:
        raise not_found("No such referral at that time.")
    return {
        **dict(row),
        "status": state.status,
        "provider_id": state.provider_id,
        "attempt": state.attempt,
        "respond_by": state.respond_by,
        "coordinator_id": state.coordinator_id,
        "version": stored[-1].stream_version,
    }


@router.get(
    "/cases/{case_id}/referrals",
    summary="A case's referrals with status, provider and routing reasons",
    responses=problem_responses(401, 403, 422),
    dependencies=[Depends(require_roles(*CASE_ROLES))],
)
async def list_case_referrals(
    request: Request, case_id: CaseId, principal: CurrentPrincipal
) -> list[CaseReferral]:
    rows = await service(request).referrals.projection.of_case(
        request.app.state.runtime.pool, case_id
    )
    return [case_referral(r) for r in rows if in_scope(principal, r)]


async def _answer(
    request: Request,
    principal: Principal,
    referral_id: str,
    if_match: str | None,
    key: str | None,
    body: DeclineIn | None,
    command: Any,
) -> JSONResponse:
    svc = service(request)

    async def authorize(conn: Any) -> None:
        # Only the provider holding the referral now may answer, or see a stored answer.
        row = await svc.referrals.projection.get(conn, referral_id)
        if row is None or row["provider_id"] != principal.provider_id:
            raise ReferralNotFound(referral_id)

    async def work(conn: Any) -> tuple[int, Any, dict[str, str]]:
        out = await svc.referrals.run(
            conn,
            command,
            actor=actor_of(principal),
            correlation_id=correlation_id(request),
            expected_version=expected_version(if_match),
        )
        if isinstance(command, DeclineReferral):
            return 200, Declined(referral_id=referral_id), {}
        row = await svc.referrals.projection.get(conn, referral_id)
        return 200, provider_referral(row, reference_key(request)), {"ETag": etag(out.version)}

    return await run_write(request, principal, key, body, work, authorize)


_WRITE_DOC: dict[str, Any] = {
    "dependencies": [Depends(require_roles("provider"))],
    "responses": {
        **problem_responses(401, 403, 404, 409, 412, 422),
        200: {"headers": ETAG_HEADER},
    },
}


@router.post(
    "/referrals/{referral_id}/accept",
    response_model=ProviderReferral,
    summary="Accept",
    **_WRITE_DOC,
)
async def accept(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = AcceptReferral(referral_id, principal.provider_id or "")
    return await _answer(request, principal, referral_id, if_match, idempotency_key, None, cmd)


@router.post(
    "/referrals/{referral_id}/decline",
    response_model=Declined,
    summary="Decline with a reason code",
    **_WRITE_DOC,
)
async def decline(
    request: Request,
    referral_id: ReferralId,
    body: DeclineIn,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = DeclineReferral(referral_id, principal.provider_id or "", body.reason_code)
    return await _answer(request, principal, referral_id, if_match, idempotency_key, body, cmd)


@router.post(
    "/referrals/{referral_id}/start",
    response_model=ProviderReferral,
    summary="Start the service",
    **_WRITE_DOC,
)
async def start(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = StartService(referral_id, principal.provider_id or "")
    return await _answer(request, principal, referral_id, if_match, idempotency_key, None, cmd)


@router.post(
    "/referrals/{referral_id}/complete",
    response_model=ProviderReferral,
    summary="Complete the service",
    **_WRITE_DOC,
)
async def complete(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    cmd = CompleteService(referral_id, principal.provider_id or "")
    return await _answer(request, principal, referral_id, if_match, idempotency_key, None, cmd)
