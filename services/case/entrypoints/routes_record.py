"""The case's record: history across services, access log, erasure."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from services.case.app.emergency import may_read
from services.case.app.loading import load_case
from services.case.app.reading import access_stream, record_access
from services.case.app.timeline import HistoryFilter, history_rows, open_blobs, opener_for
from services.case.domain import Case
from services.case.domain.commands import CaseCommand, EraseIdentity
from services.case.entrypoints.change import CaseId
from services.case.entrypoints.deps import CaseService, Service
from services.case.entrypoints.schemas import CaseWritten
from services.case.entrypoints.spreadsheet import safe_cell
from services.case.entrypoints.writes import IdempotencyKey
from shared.auth import CurrentPrincipal, require_roles
from shared.envelope import Actor, format_time
from shared.events.case import ErasureReason
from shared.http_writes import etag
from shared.problems import forbidden, not_found, problem_responses
from shared.times import UtcDatetime

router = APIRouter(tags=["audit"])

HISTORY_COLUMNS = (
    "id",
    "time",
    "service",
    "type",
    "actor_role",
    "actor_sub",
    "stream_id",
    "stream_version",
    "correlation_id",
    "causation_id",
    "data",
)


async def _visible_case(svc: CaseService, principal: Any, case_id: str) -> Case:
    loaded = await load_case(svc.store, case_id)
    if loaded.state is None or not may_read(principal, loaded.state, svc.clock()):
        raise not_found("No such case.")  # in scope, or breaking the glass (app/emergency.py)
    return loaded.state


def _entry(
    *,
    event_id: str,
    time: datetime,
    service: str,
    type_: str,
    actor: str,
    stream_id: str,
    version: int,
    correlation_id: str | None,
    causation_id: str | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    who = Actor.decode(actor)
    return {
        "id": event_id,
        "time": format_time(time),
        "service": service,
        "type": type_,
        "actor": {"sub": who.sub, "role": who.role},
        "stream_id": stream_id,
        "stream_version": version,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "data": data,
    }


HISTORY = "GET /cases/{case_id}/history"


@router.get(
    "/cases/{case_id}/history",
    summary="Every event of the case, from all three services, in time order",
    description="Sealed identifying fields stay ciphertext, except for supervisors and for "
    "auditors asking `decrypt=true`: such a read is recorded in the access log before the "
    'answer leaves. After erasure every sealed field reads `{"erased": true}`. '
    "`from`/`to` (RFC 3339, inclusive) and `type` (repeatable; `ReferralRouted` or the full "
    "type) filter. `Accept: application/x-ndjson` gives JSON Lines, `Accept: text/csv` a CSV "
    "file (the data column as JSON).",
    dependencies=[Depends(require_roles("auditor", "supervisor", "admin"))],
    responses={
        200: {
            "description": "The history.",
            "content": {"application/x-ndjson": {}, "text/csv": {}},
        },
        **problem_responses(401, 403, 404, 422),
    },
)
async def history(
    request: Request,
    case_id: CaseId,
    principal: CurrentPrincipal,
    svc: Service,
    from_: Annotated[UtcDatetime | None, Query(alias="from")] = None,
    to: UtcDatetime | None = None,
    type_: Annotated[list[str] | None, Query(alias="type", max_length=50)] = None,
    decrypt: Annotated[
        bool, Query(description="Auditors: open sealed fields (recorded). Supervisors always do.")
    ] = False,
) -> Response:
    sid = str(case_id)
    if decrypt and principal.role == "admin":
        raise forbidden("Admins do not read identifying data.")
    case = await _visible_case(svc, principal, sid)
    rows = await history_rows(svc.pool, sid, HistoryFilter(from_, to, tuple(type_ or ())))
    key = await svc.writes.keys.get(sid)
    opening = principal.role == "supervisor" or (principal.role == "auditor" and decrypt)
    found: list[str] = []
    entries = []
    for r in rows:
        data = json.loads(r["data"])
        if r["service"] == "case" and (opening or key is None):
            # Without the key (erased) every blob reads as erased, for every role.
            data = open_blobs(data, "", opener_for(key if opening else None, sid), found)
        entries.append(
            _entry(
                event_id=str(r["event_id"]),
                time=r["occurred_at"],
                service=r["service"],
                type_=r["event_type"],
                actor=r["actor"],
                stream_id=r["stream_id"],
                version=r["stream_version"],
                correlation_id=r["correlation_id"],
                causation_id=r["causation_id"],
                data=data,
            )
        )
    if opening and key is not None and found:
        # Recorded before the data leaves: no record, no response.
        await record_access(
            svc.store,
            case,
            sid,
            principal,
            ["history." + f for f in found][:50],
            HISTORY,
            request.state.correlation_id,
            svc.clock,
        )
    accept = request.headers.get("accept", "")
    if "application/x-ndjson" in accept:
        body = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in entries)
        return Response(body, media_type="application/x-ndjson")
    if "text/csv" in accept:
        return Response(_csv(entries), media_type="text/csv")
    return JSONResponse({"case_id": sid, "entries": entries})


def _csv(entries: list[dict[str, Any]]) -> str:
    """The entries as CSV, every cell defused for spreadsheets (``safe_cell``)."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow([safe_cell(c) for c in HISTORY_COLUMNS])
    for x in entries:
        row = [
            x["id"],
            x["time"],
            x["service"],
            x["type"],
            x["actor"]["role"],
            x["actor"]["sub"],
            x["stream_id"],
            x["stream_version"],
            x["correlation_id"],
            x["causation_id"],
            json.dumps(x["data"], ensure_ascii=False),
        ]
        w.writerow([safe_cell(c) for c in row])
    return out.getvalue()


@router.get(
    "/cases/{case_id}/access-log",
    summary="Who read the case's identifying data, when, which fields, through which endpoint",
    dependencies=[Depends(require_roles("auditor", "supervisor", "admin"))],
    responses=problem_responses(401, 403, 404),
)
async def access_log(case_id: CaseId, principal: CurrentPrincipal, svc: Service) -> Any:
    sid = str(case_id)
    await _visible_case(svc, principal, sid)
    events = await svc.store.read_stream(access_stream(sid))
    return {
        "case_id": sid,
        "reads": [{"at": format_time(e.occurred_at), **e.data} for e in events],
    }


class EraseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason_code: ErasureReason


@router.post(
    "/cases/{case_id}/erase",
    summary="Erase the survivor's identity: delete the case key (admin)",
    description="Identifying fields become unreadable everywhere; the events and their hash "
    "chain stay intact. Records `IdentityErased` with who and why.",
    response_model=CaseWritten,
    dependencies=[Depends(require_roles("admin"))],
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def erase(
    request: Request,
    case_id: CaseId,
    body: EraseIn,
    principal: CurrentPrincipal,
    svc: Service,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    sid = str(case_id)

    def build(case: Case, key: bytes | None, now: datetime) -> CaseCommand:
        return EraseIdentity(erased_by=principal.sub, reason_code=body.reason_code)

    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        written = await svc.writes.change(
            conn,
            principal,
            sid,
            build,
            expected_version=None,
            correlation_id=request.state.correlation_id,
        )
        await svc.writes.keys.erase(sid, conn)  # same transaction: both or neither
        await svc.index.forget(conn, sid)  # the blind identity keys go with the key
        return 200, CaseWritten(id=sid, version=written.version), {"ETag": etag(written.version)}

    return await svc.http.run(request, principal, idempotency_key, body, work)
