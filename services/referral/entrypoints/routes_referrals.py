"""Referral routes: providers answer and follow their referrals; case roles read them.

A provider only ever sees referrals it holds (anything else is a 404) and only in the
minimised form; case roles see the case id, the provider and the routing reasons, within
the same scope as case reads, on the case as it stands now (after transfers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from services.referral.domain.commands import (
    AcceptReferral,
    Command,
    CompleteService,
    ConfirmDataDeleted,
    ConfirmOutcome,
    DeclineReferral,
    RecordOutcome,
    StartService,
)
from services.referral.domain.errors import ReferralNotFound
from services.referral.domain.evolve import replay
from services.referral.entrypoints.deps import (
    ETAG_HEADER,
    IdempotencyKey,
    IfMatch,
    ReferralService,
    Service,
    actor_of,
    correlation_id,
)
from services.referral.entrypoints.schemas import (
    CaseReferral,
    CoordinatorReferral,
    Declined,
    DeclineIn,
    DeletionConfirmed,
    OutcomeIn,
    ProviderReferral,
    case_referral,
    coordinator_referral,
    provider_referral,
)
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.case_scope import in_scope as case_in_scope
from shared.http_writes import etag, expected_version
from shared.problems import ProblemError, not_found, problem_responses
from shared.times import UtcDatetime

router = APIRouter(tags=["referrals"])
CASE_ROLES = ("caseworker", "supervisor", "auditor", "admin")
ReferralId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9a-f-]{36}$")]
CaseId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
Status = Literal["awaiting_answer", "accepted", "in_service", "completed", "withdrawn"]


def gone(referral_id: str) -> ProblemError:
    """What a provider told to delete a referral gets for it from then on: no data."""
    return ProblemError(
        410,
        detail=(
            "This referral was withdrawn: stop, delete everything you hold about it and"
            f" confirm with POST /referrals/{referral_id}/data-deleted."
        ),
        type_suffix="gone",
    )


def told_to_delete(principal: Principal, row: Any) -> bool:
    return principal.provider_id is not None and principal.provider_id in (
        row["deletion_requested"] or ()
    )


def in_scope(principal: Principal, row: Any) -> bool:
    """The case service's scope rule, on the referral's case as it stands now (``scope_*``:
    after transfers and moves, as the case events told us; see ``Projection.get``)."""
    return case_in_scope(
        principal,
        region=row["scope_region"],
        office=row["scope_office"],
        caseworker=row["scope_caseworker"],
    )


def coordinates(principal: Principal, row: Any) -> bool:
    """An admin; or a coordinator of one of the person's categories (its token's
    ``categories``), national or of the person's region now. Anyone else, and a coordinator
    of other categories, is told the referral does not exist (404)."""
    if principal.role == "admin":
        return True
    return (
        principal.role == "coordinator"
        and principal.region in (None, row["scope_region"])
        and not set(principal.categories).isdisjoint(row["categories"])
    )


@router.get(
    "/providers/{provider_id}/referrals",
    summary="The referrals a provider holds (minimised)",
    responses=problem_responses(401, 403, 404, 422),
    dependencies=[Depends(require_roles("provider"))],
)
async def list_provider_referrals(
    provider_id: Annotated[str, Path(max_length=64)],
    principal: CurrentPrincipal,
    svc: Service,
    status: Annotated[Status | None, Query()] = None,
) -> list[ProviderReferral]:
    if provider_id != principal.provider_id:
        raise not_found("No such provider.")
    rows = await svc.referrals.projection.of_provider(svc.pool, provider_id, status)
    return [provider_referral(r, svc.reference_key) for r in rows]


@router.get(
    "/referrals/{referral_id}",
    summary="One referral: minimised for its provider and coordinators, in full for case roles",
    responses={**problem_responses(401, 403, 404, 410, 422), 200: {"headers": ETAG_HEADER}},
)
async def get_referral(
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    svc: Service,
    as_of: Annotated[
        UtcDatetime | None, Query(description="RFC 3339 with offset: the referral as it was then.")
    ] = None,
) -> JSONResponse:
    row = await svc.referrals.projection.get(svc.pool, referral_id)
    body: ProviderReferral | CoordinatorReferral | CaseReferral
    if principal.role == "provider":
        if row is not None and told_to_delete(principal, row):
            raise gone(referral_id)
        if row is None or row["provider_id"] != principal.provider_id:
            raise not_found("No such referral.")
    elif principal.role == "coordinator":  # minimised, of its categories and region
        if row is None or not coordinates(principal, row):
            raise not_found("No such referral.")
    elif row is None or not in_scope(principal, row):
        raise not_found("No such referral.")
    if as_of is not None:  # who may see it was decided on the referral as it is now
        row = await _as_of(svc, row, referral_id, as_of)
    if principal.role == "provider":
        body = provider_referral(row, svc.reference_key)
    elif principal.role == "coordinator":
        body = coordinator_referral(row, svc.reference_key)
    else:
        body = case_referral(row)
    return JSONResponse(body.model_dump(mode="json"), headers={"ETag": etag(row["version"])})


async def _as_of(svc: ReferralService, row: Any, referral_id: str, as_of: datetime) -> Any:
    """The view row with the lifecycle fields replayed from the events up to ``as_of``.

    Who may see the referral is decided on the current row, as for a plain read."""
    if row is None:
        return None
    stored = await svc.store.read_stream(referral_id, up_to_time=as_of)
    state = replay([svc.store.load(e) for e in stored])
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
    case_id: CaseId, principal: CurrentPrincipal, svc: Service
) -> list[CaseReferral]:
    rows = await svc.referrals.projection.of_case(svc.pool, case_id)
    return [case_referral(r) for r in rows if in_scope(principal, r)]


@dataclass(frozen=True)
class ProviderAnswer:
    """A provider's answer to one referral: who answers, on which version, under which
    Idempotency-Key. The four answer routes differ only in the command they build."""

    request: Request
    principal: Principal
    referral_id: str
    if_match: str | None
    idempotency_key: str | None
    service: ReferralService

    @property
    def provider_id(self) -> str:
        return self.principal.provider_id or ""

    async def run(
        self, command: Command, body: DeclineIn | OutcomeIn | None = None
    ) -> JSONResponse:
        """Decide ``command`` once per key; answer the referral as its provider sees it
        now (``Declined`` once it has left the provider)."""
        svc, principal, referral_id = self.service, self.principal, self.referral_id
        expected = expected_version(self.if_match)

        confirming = isinstance(command, ConfirmDataDeleted)

        async def authorize(conn: Any) -> None:
            # Only the provider holding the referral now may answer, or see a stored answer;
            # once told to delete it, a provider may only confirm the deletion.
            row = await svc.referrals.projection.get(conn, referral_id)
            if row is None:
                raise ReferralNotFound(referral_id)
            if told_to_delete(principal, row):
                if not confirming:
                    raise gone(referral_id)
            elif row["provider_id"] != principal.provider_id:
                raise ReferralNotFound(referral_id)

        async def work(conn: Any) -> tuple[int, Any, dict[str, str]]:
            out = await svc.referrals.run(
                conn,
                command,
                actor=actor_of(principal),
                correlation_id=correlation_id(self.request),
                expected_version=expected,
            )
            if isinstance(command, DeclineReferral):
                return 200, Declined(referral_id=referral_id), {}
            if confirming:
                return 200, DeletionConfirmed(referral_id=referral_id), {"ETag": etag(out.version)}
            row = await svc.referrals.projection.get(conn, referral_id)
            answer = provider_referral(row, svc.reference_key)
            return 200, answer, {"ETag": etag(out.version)}

        return await svc.http.run(
            self.request, principal, self.idempotency_key, body, work, authorize=authorize
        )


async def provider_answer(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    service: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> ProviderAnswer:
    return ProviderAnswer(request, principal, referral_id, if_match, idempotency_key, service)


Answer = Annotated[ProviderAnswer, Depends(provider_answer)]

_WRITE_DOC: dict[str, Any] = {
    "dependencies": [Depends(require_roles("provider"))],
    "responses": {
        **problem_responses(401, 403, 404, 409, 410, 412, 422),
        200: {"headers": ETAG_HEADER},
    },
}


@router.post(
    "/referrals/{referral_id}/accept",
    response_model=ProviderReferral,
    summary="Accept",
    **_WRITE_DOC,
)
async def accept(answer: Answer) -> JSONResponse:
    return await answer.run(AcceptReferral(answer.referral_id, answer.provider_id))


@router.post(
    "/referrals/{referral_id}/decline",
    response_model=Declined,
    summary="Decline with a reason code",
    **_WRITE_DOC,
)
async def decline(body: DeclineIn, answer: Answer) -> JSONResponse:
    cmd = DeclineReferral(answer.referral_id, answer.provider_id, body.reason_code)
    return await answer.run(cmd, body)


@router.post(
    "/referrals/{referral_id}/start",
    response_model=ProviderReferral,
    summary="Start the service",
    **_WRITE_DOC,
)
async def start(answer: Answer) -> JSONResponse:
    return await answer.run(StartService(answer.referral_id, answer.provider_id))


@router.post(
    "/referrals/{referral_id}/complete",
    response_model=ProviderReferral,
    summary="Complete the service",
    **_WRITE_DOC,
)
async def complete(answer: Answer) -> JSONResponse:
    return await answer.run(CompleteService(answer.referral_id, answer.provider_id))


@router.post(
    "/referrals/{referral_id}/data-deleted",
    response_model=DeletionConfirmed,
    summary="Confirm that everything held about a withdrawn referral was deleted",
    **_WRITE_DOC,
)
async def data_deleted(answer: Answer) -> JSONResponse:
    """Only a provider that was told to delete the referral (every provider it reached,
    once withdrawn); a second confirmation records nothing new."""
    return await answer.run(ConfirmDataDeleted(answer.referral_id, answer.provider_id))


@router.post(
    "/referrals/{referral_id}/outcome",
    response_model=ProviderReferral,
    summary="Record how the service ended (delivered, partly, not: with a reason code)",
    **_WRITE_DOC,
)
async def record_outcome(body: OutcomeIn, answer: Answer) -> JSONResponse:
    cmd = RecordOutcome(answer.referral_id, answer.provider_id, body.outcome, body.reason_code)
    return await answer.run(cmd, body)


@router.post(
    "/referrals/{referral_id}/outcome/confirm",
    response_model=CaseReferral,
    summary="The caseworker confirms the provider's outcome: the referral loop is closed",
    dependencies=[Depends(require_roles("caseworker", "supervisor"))],
    responses={**problem_responses(401, 403, 404, 409, 412, 422), 200: {"headers": ETAG_HEADER}},
)
async def confirm_outcome(
    request: Request,
    referral_id: ReferralId,
    principal: CurrentPrincipal,
    svc: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    expected = expected_version(if_match)

    async def authorize(conn: Any) -> None:
        row = await svc.referrals.projection.get(conn, referral_id)
        if row is None or not in_scope(principal, row):
            raise ReferralNotFound(referral_id)

    async def work(conn: Any) -> tuple[int, Any, dict[str, str]]:
        out = await svc.referrals.run(
            conn,
            ConfirmOutcome(referral_id, principal.sub),
            actor=actor_of(principal),
            correlation_id=correlation_id(request),
            expected_version=expected,
        )
        row = await svc.referrals.projection.get(conn, referral_id)
        return 200, case_referral(row), {"ETag": etag(out.version)}

    return await svc.http.run(request, principal, idempotency_key, None, work, authorize=authorize)
