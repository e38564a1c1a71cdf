"""Changes to the survivor's record: profile, needs, identification, consent.

Each route builds one domain command, sealing what is identifying with the case key;
``Change`` does the rest (see ``change.py``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from services.case.app.duplicates import identity_of
from services.case.app.handling import Written
from services.case.app.policy import WRITE_ROLES
from services.case.app.sealing import seal_profile, seal_text
from services.case.domain import Case
from services.case.domain.commands import (
    AssessNeeds,
    CaseCommand,
    GiveConsent,
    RecordIdentification,
    RecordProfile,
    UpdateProfile,
    WithdrawConsent,
)
from services.case.domain.reflection import ExtendReflectionPeriod
from services.case.entrypoints.change import CaseId, Change, ConsentId, doc
from services.case.entrypoints.duplicates_found import index_and_name
from services.case.entrypoints.schemas import (
    CaseWritten,
    ConsentIn,
    ConsentRecorded,
    IdentificationIn,
    NeedsIn,
    ProfileIn,
    ProfileWritten,
    ReflectionExtensionIn,
    WithdrawConsentIn,
)
from shared.auth import require_roles
from shared.ids import uuid7

router = APIRouter(tags=["cases"], dependencies=[Depends(require_roles(*WRITE_ROLES))])


@router.put(
    "/cases/{case_id}/profile",
    **doc(200, ProfileWritten, "Record or replace the profile; lists possible duplicates"),
)
async def put_profile(body: ProfileIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        profile = seal_profile(
            key, change.case_id, body.identifying(), body.clear(), now, previous=case.profile
        )
        if case.profile is None:
            return RecordProfile(profile=profile)
        return UpdateProfile(profile=profile)

    async def reindex(conn: asyncpg.Connection, written: Written) -> dict[str, Any]:
        # The person may now match other cases (pairs go to the supervisors' queue, and
        # the caller is told, as at intake). An unchanged profile answers the same way.
        svc, now = change.service, change.service.clock()
        who = identity_of(body.identifying(), body.sex, now.date())
        found = await index_and_name(conn, svc, change.principal, change.case_id, who, now)
        return {"possible_duplicates": found}

    return await change.run(body, build, model=ProfileWritten, after=reindex)


@router.post("/cases/{case_id}/needs", **doc(200, CaseWritten, "Record a needs assessment"))
async def post_needs(body: NeedsIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return AssessNeeds(needs=body.needs, note=seal_text(key, change.case_id, body.note))

    return await change.run(body, build)


@router.post(
    "/cases/{case_id}/identification", **doc(200, CaseWritten, "Record an NRM identification")
)
async def post_identification(body: IdentificationIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        # The reflection period (domain/reflection.py): its configured length, and who
        # decides a not_identified while it runs (only a supervisor's own decision counts).
        principal = change.principal
        return RecordIdentification(
            status=body.status,
            basis=body.basis,
            deciding_agency=body.deciding_agency,
            note=seal_text(key, change.case_id, body.note),
            reflection_days=change.service.config.reflection_days,
            reason_code=body.reason_code,
            supervisor=principal.sub if principal.role == "supervisor" else None,
        )

    return await change.run(body, build)


@router.post(
    "/cases/{case_id}/reflection-period/extend",
    **doc(200, CaseWritten, "Extend the recovery and reflection period, with a reason"),
)
async def extend_reflection_period(body: ReflectionExtensionIn, change: Change) -> JSONResponse:
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return ExtendReflectionPeriod(
            days=body.days, reason_code=body.reason_code, extended_by=change.principal.sub
        )

    return await change.run(body, build)


@router.post("/cases/{case_id}/consents", **doc(200, ConsentRecorded, "Record a consent"))
async def post_consent(body: ConsentIn, change: Change) -> JSONResponse:
    consent_id = str(uuid7())

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return GiveConsent(consent_id=consent_id, **body.model_dump())

    return await change.run(body, build, model=ConsentRecorded, ids={"consent_id": consent_id})


@router.post(
    "/cases/{case_id}/consents/{consent_id}/withdraw",
    **doc(200, CaseWritten, "Withdraw a consent (stops future sharing)"),
)
async def withdraw_consent(
    case_id: CaseId,
    consent_id: ConsentId,
    change: Change,
    body: WithdrawConsentIn | None = None,
) -> JSONResponse:
    # case_id (Change has it) is named here so the document lists it before consent_id.
    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return WithdrawConsent(
            consent_id=consent_id, reason_code=body.reason_code if body else None
        )

    return await change.run(body, build)
