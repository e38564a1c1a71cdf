"""Coordinator routes: a national coordinator acts on referrals nobody could take.

When routing finds no provider, the coordinator of the person's first category is
alerted (``ReferralUnroutable``). Here it lists those referrals, gives one to a provider
by hand with a reason (recorded as outside the automatic rules: ``ReferralAssignedByHand``
names the rules overridden), runs routing again after the directory changed, or records
that no provider exists for the need (``ReferralClosedUnmet``, a reason code: the
referral ends ``unmet``). Roles:
``coordinator`` and ``admin``. A coordinator acts only on referrals of the categories its
token names (``categories``: IMCCTiP trafficking, NMAC mine_eo, the migration service
refugee_asylum; none named, none) and, when its token names a region, of people now in it;
any other referral is a 404, as if it did not exist. Coordinators see the minimised
referral and the routing reasons, never the case id.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from services.referral.domain.commands import (
    AssignProvider,
    CloseUnmet,
    Command,
    RerouteReferral,
)
from services.referral.domain.errors import ProviderNotInDirectory, ReferralNotFound
from services.referral.entrypoints.deps import (
    ETAG_HEADER,
    IdempotencyKey,
    IfMatch,
    Service,
    actor_of,
    correlation_id,
)
from services.referral.entrypoints.routes_referrals import ReferralId, coordinates
from services.referral.entrypoints.schemas import (
    AssignIn,
    CloseUnmetIn,
    CoordinatorReferral,
    coordinator_referral,
)
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.http_writes import etag, expected_version
from shared.problems import ProblemFieldError, problem_responses, unprocessable

router = APIRouter(tags=["coordinator"])
COORDINATING = ("coordinator", "admin")
_ROLES = [Depends(require_roles(*COORDINATING))]
_WRITE: dict[str, Any] = {
    "dependencies": _ROLES,
    "responses": {
        **problem_responses(401, 403, 404, 409, 412, 422),
        200: {"headers": ETAG_HEADER},
    },
}


@router.get(
    "/coordinator/referrals",
    summary="Referrals waiting for a coordinator (unroutable by default)",
    responses=problem_responses(401, 403, 422),
    dependencies=_ROLES,
)
async def coordinator_queue(
    principal: CurrentPrincipal,
    svc: Service,
    status: Annotated[Literal["unroutable", "awaiting_answer"], Query()] = "unroutable",
) -> list[CoordinatorReferral]:
    if principal.role == "coordinator":
        region, categories = principal.region, principal.categories
        if not categories:
            return []  # bound to nothing: it coordinates no referral
    else:
        region, categories = None, None
    rows = await svc.referrals.projection.with_status(svc.pool, status, region, categories)
    return [coordinator_referral(r, svc.reference_key) for r in rows]


async def _act(
    request: Request,
    referral_id: str,
    principal: Principal,
    svc: Service,
    command: Command,
    if_match: str | None,
    key: str | None,
    body: AssignIn | CloseUnmetIn | None = None,
) -> JSONResponse:
    expected = expected_version(if_match)

    async def authorize(conn: Any) -> None:
        row = await svc.referrals.projection.get(conn, referral_id)
        if row is None or not coordinates(principal, row):
            raise ReferralNotFound(referral_id)

    async def work(conn: Any) -> tuple[int, Any, dict[str, str]]:
        try:
            out = await svc.referrals.run(
                conn,
                command,
                actor=actor_of(principal),
                correlation_id=correlation_id(request),
                expected_version=expected,
            )
        except ProviderNotInDirectory:
            field = ProblemFieldError(
                path="body.provider_id", message="not in the directory", type="unknown_provider"
            )
            raise unprocessable("No such provider in the directory.", [field]) from None
        row = await svc.referrals.projection.get(conn, referral_id)
        return 200, coordinator_referral(row, svc.reference_key), {"ETag": etag(out.version)}

    return await svc.http.run(request, principal, key, body, work, authorize=authorize)


@router.post(
    "/referrals/{referral_id}/assign",
    response_model=CoordinatorReferral,
    summary="Give an unroutable referral to a provider by hand, with a reason",
    **_WRITE,
)
async def assign(
    request: Request,
    referral_id: ReferralId,
    body: AssignIn,
    principal: CurrentPrincipal,
    svc: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Any provider of the directory, whatever rules it fails (recorded as overridden),
    except a suspended one or one the person's consent does not cover (409)."""
    command = AssignProvider(referral_id, body.provider_id, body.reason_code, principal.sub)
    return await _act(
        request, referral_id, principal, svc, command, if_match, idempotency_key, body
    )


@router.post(
    "/referrals/{referral_id}/reroute",
    response_model=CoordinatorReferral,
    summary="Run routing again on an unroutable referral (after the directory changed)",
    **_WRITE,
)
async def reroute(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    svc: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """A new routing attempt on the directory as it is now; still unroutable is recorded
    as another ``ReferralUnroutable`` (and the coordinator alerted again)."""
    command = RerouteReferral(referral_id)
    return await _act(request, referral_id, principal, svc, command, if_match, idempotency_key)


@router.post(
    "/referrals/{referral_id}/close-unmet",
    response_model=CoordinatorReferral,
    summary="Record that no provider exists for an unroutable referral's need (a reason code)",
    **_WRITE,
)
async def close_unmet(
    request: Request,
    referral_id: ReferralId,
    body: CloseUnmetIn,
    principal: CurrentPrincipal,
    svc: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """The coordinator's decision that the need is left unmet: the referral ends
    ``unmet`` (no timer looks at it again; assign, re-route or closing again are 409), the
    case's caseworker is told. Only an unroutable referral (409 otherwise)."""
    command = CloseUnmet(referral_id, body.reason_code, principal.sub)
    return await _act(
        request, referral_id, principal, svc, command, if_match, idempotency_key, body
    )
