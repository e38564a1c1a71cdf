"""Transfers the receiving side accepts (issue 13 item 7; docs/case-domain.md).

``POST /cases/{id}/transfer`` *requests* a transfer; the case stays with the sending
office. The receiving side (``receives_transfer``, bound to the request answered) accepts
or refuses it; the sending side may cancel it; unanswered, it expires (the transfer
timer). Only an acceptance moves the case (``CaseTransferred``), so scopes, referrals and
notifications in every service follow the accepted transfer only.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse

from services.case.app.policy import WRITE_ROLES
from services.case.app.transfers import incoming, receiving_side_of
from services.case.domain import Case
from services.case.domain.commands import CaseCommand
from services.case.domain.transfer import (
    AcceptTransfer,
    CancelTransfer,
    RefuseTransfer,
    RequestTransfer,
)
from services.case.entrypoints.change import Change, doc
from services.case.entrypoints.deps import Service
from services.case.entrypoints.schemas import (
    CaseWritten,
    IncomingTransfer,
    TransferIn,
    TransferRefusalIn,
    TransferRequested,
)
from shared.auth import CurrentPrincipal, require_roles
from shared.ids import uuid7
from shared.problems import problem_responses

router = APIRouter(tags=["cases"], dependencies=[Depends(require_roles(*WRITE_ROLES))])
TransferId = Annotated[
    str,
    Path(
        max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="From POST transfer."
    ),
]


@router.post(
    "/cases/{case_id}/transfer",
    **doc(202, TransferRequested, "Request a transfer; the receiving side accepts or refuses"),
)
async def request_transfer(body: TransferIn, change: Change) -> JSONResponse:
    transfer_id = str(uuid7())
    expires_after = timedelta(days=change.service.config.transfer_expiry_days)

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return RequestTransfer(
            transfer_id=transfer_id,
            to_caseworker=body.to_caseworker,
            to_office=body.to_office,
            requested_by=change.principal.sub,
            expires_after=expires_after,
        )

    return await change.run(
        body, build, status=202, model=TransferRequested, ids={"transfer_id": transfer_id}
    )


@router.get(
    "/transfers/incoming",
    summary="Transfers waiting for your answer (named to you, or to your office)",
    responses=problem_responses(401, 403),
)
async def incoming_transfers(principal: CurrentPrincipal, svc: Service) -> list[IncomingTransfer]:
    return [IncomingTransfer(**r) for r in await incoming(svc.pool, principal, svc.clock())]


@router.post(
    "/cases/{case_id}/transfers/{transfer_id}/accept",
    **doc(200, CaseWritten, "The receiving side accepts: the case moves to it"),
)
async def accept_transfer(transfer_id: TransferId, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return AcceptTransfer(transfer_id=transfer_id, accepted_by=change.principal.sub)

    return await change.run(None, build, may_act=receiving_side_of(transfer_id))


@router.post(
    "/cases/{case_id}/transfers/{transfer_id}/refuse",
    **doc(200, CaseWritten, "The receiving side refuses, with a reason code: the case stays"),
)
async def refuse_transfer(
    transfer_id: TransferId, body: TransferRefusalIn, change: Change
) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return RefuseTransfer(
            transfer_id=transfer_id, refused_by=change.principal.sub, reason_code=body.reason_code
        )

    return await change.run(body, build, may_act=receiving_side_of(transfer_id))


@router.post(
    "/cases/{case_id}/transfers/{transfer_id}/cancel",
    **doc(200, CaseWritten, "The sending side withdraws its request"),
)
async def cancel_transfer(transfer_id: TransferId, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return CancelTransfer(transfer_id=transfer_id, cancelled_by=change.principal.sub)

    return await change.run(None, build)
