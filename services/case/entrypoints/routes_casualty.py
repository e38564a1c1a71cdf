"""Casualty records of persons killed (no survivor case), and links from family's cases.

Scope is a case's: a record belongs to the region of the incident district and to the
recording caseworker's office (``in_scope``); outside it, 404 like an unknown record.
Names, dates and the national record id are sealed under the record's own key and shown
only to caseworkers and supervisors in scope, each read recorded in ``access-<id>``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.case.app.casualties import CasualtyList
from services.case.app.handling import CaseNotVisible, OutOfScope, actor_of
from services.case.app.policy import READ_ROLES, WRITE_ROLES, in_scope, sees_identifying
from services.case.app.projection import BadCursor, decode_cursor, encode_cursor
from services.case.app.reading import access_stream
from services.case.app.sealing import years_between
from services.case.app.statistics.model import project as project_statistics
from services.case.domain import Case
from services.case.domain.casualty import (
    Casualty,
    CorrectCasualty,
    EraseCasualty,
    RecordCasualty,
    decide_casualty,
    fold_casualty,
)
from services.case.domain.commands import CaseCommand
from services.case.domain.errors import IdentityErasedError
from services.case.domain.person import LinkCasualty
from services.case.entrypoints.change import Change, doc
from services.case.entrypoints.deps import CaseService, Service
from services.case.entrypoints.routes_cases import _office_for
from services.case.entrypoints.schemas import CaseWritten
from services.case.entrypoints.schemas_facts import PastDate
from services.case.entrypoints.writes import IdempotencyKey, IfMatch
from shared.auth import CurrentPrincipal, Principal, require_roles
from shared.commands import StaleVersion, load
from shared.crypto import case_aad, open_sealed, seal
from shared.events.case import CaseAccessed, ErasureReason, Office
from shared.events.case_facts import DeviceType, District, IncidentActivity
from shared.events.case_person import (
    CASUALTY_PREFIX,
    CasualtyCorrected,
    CasualtyDetails,
    CasualtyId,
    CasualtyRecorded,
    FamilyRelation,
)
from shared.events.vocabulary import AgeBand, Region, Sex, age_band, region_of
from shared.eventstore import ConcurrencyError, NewEvent
from shared.http_writes import etag, expected_version
from shared.ids import uuid7
from shared.problems import ProblemFieldError, not_found, problem_responses, unprocessable

router = APIRouter(tags=["person"])
CasualtyPath = Annotated[str, Path(pattern=CasualtyId.__metadata__[0].pattern)]
GET_CASUALTY = "GET /casualties/{casualty_id}"


class CasualtyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    given_name: Annotated[str, Field(max_length=100)] | None = None
    family_name: Annotated[str, Field(max_length=100)] | None = None
    date_of_birth: PastDate = None
    estimated_age_years: Annotated[int, Field(ge=0, le=130)] | None = None
    sex: Sex
    incident_date: PastDate = None
    incident_district: District
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    casualty_record_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    office: Office | None = None

    def details(self) -> CasualtyDetails:
        return CasualtyDetails(**self.model_dump(include=set(CasualtyDetails.model_fields)))

    def band(self, today: date) -> str:
        """Age band at the incident when both dates are known, else now."""
        if self.date_of_birth is not None:
            return age_band(years_between(self.date_of_birth, self.incident_date or today))
        return age_band(self.estimated_age_years)


class CasualtyWritten(BaseModel):
    id: str
    version: int


class CasualtyLinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    casualty_id: CasualtyId
    relation: FamilyRelation = Field(description="What the person killed was to this person.")


def _visible(principal: Principal, record: Casualty | None) -> bool:
    return record is not None and in_scope(
        principal, region=record.region, office=record.office, caseworker=record.caseworker
    )


@router.post(
    "/casualties",
    status_code=201,
    response_model=CasualtyWritten,
    summary="Record a person killed by a mine or explosive ordnance (no survivor case)",
    dependencies=[Depends(require_roles(*WRITE_ROLES))],
    responses=problem_responses(401, 403, 422),
)
async def post_casualty(
    request: Request,
    body: CasualtyIn,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    office = _office_for(principal, body.office)
    stream = f"{CASUALTY_PREFIX}{uuid7()}"
    region = region_of(body.incident_district)
    assert region is not None  # District is from the vocabulary

    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        if not in_scope(principal, region=region, office=office, caseworker=principal.sub):
            raise OutOfScope()
        key = await svc.writes.keys.create(stream, conn)
        now = svc.clock()
        sealed = seal(key, stream, body.details().model_dump(mode="json"), case_aad(stream))
        command = RecordCasualty(
            identifying=sealed,
            sex=body.sex,
            age_band=body.band(now.date()),
            region=region,
            incident_district=body.incident_district,
            incident_year=body.incident_date.year if body.incident_date else None,
            device_type=body.device_type,
            activity=body.activity,
            office=office,
            caseworker=principal.sub,
        )
        events = decide_casualty(None, command)
        actor, correlation = actor_of(principal), request.state.correlation_id
        new = [NewEvent(e, actor, correlation, occurred_at=now) for e in events]
        stored = await svc.store.append(stream, 0, new, conn=conn)
        await project_statistics(conn, stored)  # a person killed: the casualty statistics
        await CasualtyList(svc.store.schema).project(conn, stored)
        version = stored[-1].stream_version
        return (
            201,
            CasualtyWritten(id=stream, version=version),
            {"Location": f"/casualties/{stream}"},
        )

    return await svc.http.run(request, principal, idempotency_key, body, work)


@router.get(
    "/casualties/{casualty_id}",
    summary="Read a casualty record (identifying fields for caseworkers and supervisors, recorded)",
    dependencies=[Depends(require_roles(*READ_ROLES))],
    responses=problem_responses(401, 403, 404, 422),
)
async def get_casualty(
    request: Request, casualty_id: CasualtyPath, principal: CurrentPrincipal, svc: Service
) -> dict[str, Any]:
    loaded = await load(svc.store, casualty_id, fold_casualty)
    if not _visible(principal, loaded.state):
        raise not_found("No such casualty record.")
    # The record as it now stands: CasualtyRecorded, or the last CasualtyCorrected.
    events = [svc.store.load(e) for e in loaded.events]
    first = events[0]
    assert isinstance(first, CasualtyRecorded)  # fold_casualty found one
    event: CasualtyRecorded | CasualtyCorrected = first
    for e in events:
        if isinstance(e, CasualtyCorrected):
            event = e
    clear = {
        **first.model_dump(mode="json", exclude={"identifying"}),
        **event.model_dump(mode="json", exclude={"identifying", "corrected_by"}),
    }
    identifying = None
    key = await svc.writes.keys.get(casualty_id) if sees_identifying(principal) else None
    if key is not None:
        opened = open_sealed(key, event.identifying, case_aad(casualty_id))
        identifying = CasualtyDetails.model_validate(opened).model_dump(mode="json")
        fields = [f"casualty.{k}" for k, v in identifying.items() if v is not None]
        if fields:
            await _record_read(svc, principal, casualty_id, fields, request.state.correlation_id)
    erased = loaded.state is not None and loaded.state.identity_erased
    return {"id": casualty_id, **clear, "identity_erased": erased, "identifying": identifying}


async def _record_read(
    svc: CaseService, principal: Principal, record_id: str, fields: list[str], correlation: str
) -> None:
    """Append who read which fields, before the data leaves (no record, no data)."""
    now = svc.clock()
    event = CaseAccessed(
        who=principal.sub, role=principal.role, fields=fields, endpoint=GET_CASUALTY
    )
    stream = access_stream(record_id)
    new = [NewEvent(event, actor_of(principal), correlation, occurred_at=now)]
    for _ in range(10):
        try:
            await svc.store.append(stream, await svc.store.stream_version(stream), new)
            return
        except ConcurrencyError:
            continue
    raise ConcurrencyError(stream, 0, await svc.store.stream_version(stream))


class CasualtySummary(BaseModel):
    """A casualty record in a list: clear facts and scope, nothing identifying."""

    id: str
    region: Region
    office: str | None
    sex: Sex
    age_band: AgeBand
    incident_district: District
    incident_year: int | None
    device_type: DeviceType
    activity: IncidentActivity
    recorded_at: datetime
    updated_at: datetime
    version: int
    identity_erased: bool


class CasualtyPage(BaseModel):
    items: list[CasualtySummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


@router.get(
    "/casualties",
    response_model=CasualtyPage,
    summary="Casualty records in your scope, newest first (clear facts only)",
    dependencies=[Depends(require_roles(*READ_ROLES))],
    responses=problem_responses(401, 403, 422),
)
async def list_casualties(
    principal: CurrentPrincipal,
    svc: Service,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=100, description="From `next_cursor`.")] = None,
) -> CasualtyPage:
    try:
        after = CASUALTY_PREFIX + decode_cursor(cursor) if cursor is not None else None
    except BadCursor as e:
        where = ProblemFieldError(path="query.cursor", message=str(e), type="cursor")
        raise unprocessable(str(e), [where]) from None
    rows, last = await CasualtyList(svc.store.schema).page(svc.pool, principal, limit, after)
    items = [
        CasualtySummary(id=r["casualty_id"], **{k: v for k, v in r.items() if k in _SHOWN})
        for r in rows
    ]
    next_cursor = encode_cursor(last.removeprefix(CASUALTY_PREFIX)) if last else None
    return CasualtyPage(items=items, next_cursor=next_cursor)


_SHOWN = set(CasualtySummary.model_fields) - {"id"}


class CasualtyCorrectionIn(CasualtyIn):
    """The record as it should stand: every field again (what is left out is cleared).
    The office that recorded it is not corrected here."""

    office: None = Field(default=None, exclude=True)


@router.post(
    "/casualties/{casualty_id}/corrections",
    response_model=CasualtyWritten,
    summary="Correct a casualty record (the whole record again; stays in its region)",
    dependencies=[Depends(require_roles(*WRITE_ROLES))],
    responses=problem_responses(401, 403, 404, 409, 412, 422),
)
async def correct_casualty(
    request: Request,
    casualty_id: CasualtyPath,
    body: CasualtyCorrectionIn,
    principal: CurrentPrincipal,
    svc: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    expected = expected_version(if_match)
    region = region_of(body.incident_district)

    async def authorize(conn: asyncpg.Connection) -> None:
        loaded = await load(svc.store, casualty_id, fold_casualty, conn=conn)
        if not _visible(principal, loaded.state):
            raise CaseNotVisible()

    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        loaded = await load(svc.store, casualty_id, fold_casualty, conn=conn)
        state = loaded.state
        if state is None or not _visible(principal, state):
            raise CaseNotVisible()
        if expected is not None and expected != loaded.version:
            raise StaleVersion(loaded.version)
        if region != state.region:  # never echo the district: it is a field path only
            where = ProblemFieldError(
                path="body.incident_district",
                message="must be a district of the record's region",
                type="region",
            )
            raise unprocessable("A casualty record stays in its region.", [where])
        key = await svc.writes.keys.get(casualty_id, conn)
        if key is None:
            raise IdentityErasedError("correct")
        now = svc.clock()
        sealed = seal(
            key, casualty_id, body.details().model_dump(mode="json"), case_aad(casualty_id)
        )
        command = CorrectCasualty(
            identifying=sealed,
            sex=body.sex,
            age_band=body.band(now.date()),
            region=state.region,
            incident_district=body.incident_district,
            incident_year=body.incident_date.year if body.incident_date else None,
            device_type=body.device_type,
            activity=body.activity,
            corrected_by=principal.sub,
        )
        events = decide_casualty(state, command)
        actor, correlation = actor_of(principal), request.state.correlation_id
        new = [NewEvent(e, actor, correlation, occurred_at=now) for e in events]
        stored = await svc.store.append(casualty_id, loaded.version, new, conn=conn)
        await CasualtyList(svc.store.schema).project(conn, stored)
        await project_statistics(conn, stored)  # the casualty statistics count it as corrected
        version = stored[-1].stream_version
        return 200, CasualtyWritten(id=casualty_id, version=version), {"ETag": etag(version)}

    return await svc.http.run(request, principal, idempotency_key, body, work, authorize=authorize)


class EraseCasualtyIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason_code: ErasureReason


@router.post(
    "/casualties/{casualty_id}/erase",
    response_model=CasualtyWritten,
    summary="Erase the identity of a casualty record: delete its key (admin)",
    dependencies=[Depends(require_roles("admin"))],
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def erase_casualty(
    request: Request,
    casualty_id: CasualtyPath,
    body: EraseCasualtyIn,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        loaded = await load(svc.store, casualty_id, fold_casualty, conn=conn)
        if not _visible(principal, loaded.state):
            raise CaseNotVisible()
        now = svc.clock()
        command = EraseCasualty(erased_by=principal.sub, reason_code=body.reason_code)
        events = decide_casualty(loaded.state, command)
        actor, correlation = actor_of(principal), request.state.correlation_id
        new = [NewEvent(e, actor, correlation, occurred_at=now) for e in events]
        stored = await svc.store.append(casualty_id, loaded.version, new, conn=conn)
        await svc.writes.keys.erase(casualty_id, conn)  # same transaction: both or neither
        await CasualtyList(svc.store.schema).project(conn, stored)
        return 200, CasualtyWritten(id=casualty_id, version=stored[-1].stream_version), {}

    return await svc.http.run(request, principal, idempotency_key, body, work)


@router.post(
    "/cases/{case_id}/casualty-links",
    dependencies=[Depends(require_roles(*WRITE_ROLES))],
    **doc(200, CaseWritten, "Link this case's person to a casualty record of a relative killed"),
)
async def post_casualty_link(body: CasualtyLinkIn, change: Change) -> JSONResponse:
    record = await load(change.service.store, body.casualty_id, fold_casualty)
    if not _visible(change.principal, record.state):
        raise not_found("No such casualty record.")

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return LinkCasualty(casualty_id=body.casualty_id, relation=body.relation)

    return await change.run(body, build)
