"""Referral requests, notes, and the case's life: close, reopen (transfers: routes_transfer).

Each route builds one domain command; ``Change`` does the rest (see ``change.py``).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from services.case.app.handling import Written
from services.case.app.loading import load_case
from services.case.app.policy import WRITE_ROLES
from services.case.app.sealing import seal_text
from services.case.domain import Case
from services.case.domain.commands import (
    AddNote,
    CaseCommand,
    CloseCase,
    ReopenCase,
    RequestReferral,
)
from services.case.domain.follow_up_service import (
    EarlierReferral,
    InvalidFollowUpService,
    check_follow_up_service,
)
from services.case.domain.person import check_not_referred_on_linked
from services.case.entrypoints.change import Change, doc
from services.case.entrypoints.schemas import (
    CaseWritten,
    CloseIn,
    NoteAdded,
    NoteIn,
    ReferralAccepted,
    ReferralIn,
    ReopenIn,
)
from shared.auth import require_roles
from shared.ids import uuid7
from shared.problems import ProblemFieldError, unprocessable

router = APIRouter(tags=["cases"], dependencies=[Depends(require_roles(*WRITE_ROLES))])


@router.post("/cases/{case_id}/referrals", **doc(202, ReferralAccepted, "Request a referral"))
async def post_referral(body: ReferralIn, change: Change) -> JSONResponse:
    referral_id = str(uuid7())
    follows_up = str(body.follows_up) if body.follows_up is not None else None
    # Looked up for this case only (never another's); used after the scope check, in build.
    earlier = await earlier_referral(change.service.pool, change.case_id, follows_up)

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        try:  # before sealing: a follow-up of nothing, or of another need, is bad input
            check_follow_up_service(case, follows_up, earlier, body.needs)
        except InvalidFollowUpService as e:
            where = ProblemFieldError(path=f"body.{e.field}", message=e.message, type=e.code)
            raise unprocessable(e.message, [where]) from None
        return RequestReferral(
            referral_id=referral_id,
            needs=body.needs,
            urgency=body.urgency,
            consent_id=body.consent_id,
            emergency_reason=seal_text(key, change.case_id, body.emergency_reason),
            note=seal_text(key, change.case_id, body.note),
            follows_up=follows_up,
            earlier=earlier,
        )

    async def once_per_person(conn: asyncpg.Connection, written: Written) -> None:
        # Refused (and rolled back) when a linked case of the same person asked already.
        svc = change.service
        case = written.case  # after the request, as the write left it (not read again)
        if case is not None and case.same_person:
            linked = {c: await load_case(svc.store, c, conn=conn) for c in case.same_person}
            states = {c: x.state for c, x in linked.items() if x.state is not None}
            check_not_referred_on_linked(body.needs, body.urgency, states)

    return await change.run(
        body,
        build,
        status=202,
        model=ReferralAccepted,
        ids={"referral_id": referral_id},
        after=once_per_person,
    )


@router.post("/cases/{case_id}/notes", **doc(200, NoteAdded, "Add a case note (sealed)"))
async def post_note(body: NoteIn, change: Change) -> JSONResponse:
    note_id = str(uuid7())

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        sealed = seal_text(key, change.case_id, body.text)
        assert sealed is not None
        return AddNote(note_id=note_id, note=sealed)

    return await change.run(body, build, model=NoteAdded, ids={"note_id": note_id})


@router.post("/cases/{case_id}/close", **doc(200, CaseWritten, "Close the case"))
async def close_case(body: CloseIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return CloseCase(reason=body.reason, note=seal_text(key, change.case_id, body.note))

    return await change.run(body, build)


@router.post("/cases/{case_id}/reopen", **doc(200, CaseWritten, "Reopen a closed case"))
async def reopen_case(body: ReopenIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return ReopenCase(reason=body.reason, note=seal_text(key, change.case_id, body.note))

    return await change.run(body, build)


async def earlier_referral(
    pool: asyncpg.Pool, case_id: str, referral_id: str | None
) -> EarlierReferral | None:
    """What this case received about the referral ``referral_id`` (None: nothing)."""
    if referral_id is None:
        return None
    row = await pool.fetchrow(
        """SELECT referral_id, request_id, need, status FROM "case".case_referral_status
           WHERE referral_id = $1 AND case_id = $2""",
        referral_id,
        case_id,
    )
    return EarlierReferral.model_validate(dict(row)) if row is not None else None
