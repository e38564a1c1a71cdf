"""The shape every change route shares: path ids, OpenAPI docs, and the write itself."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.case.app.handling import BuildCommand, CaseNotVisible, visible
from services.case.domain import fold
from services.case.entrypoints.schemas import CaseWritten
from services.case.entrypoints.writes import (
    ETAG_HEADER,
    case_writes,
    etag,
    expected_version,
    run_write,
)
from shared.auth import Principal
from shared.commands import load
from shared.problems import problem_responses

CaseId = Annotated[UUID, Path(description="The case id (a UUID).")]
ConsentId = Annotated[
    str,
    Path(
        max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="From POST consents."
    ),
]
ERRORS = problem_responses(401, 403, 404, 409, 412, 422)


def doc(status: int, model: type[BaseModel], summary: str) -> dict[str, Any]:
    return {
        "status_code": status,
        "response_model": model,
        "summary": summary,
        "responses": {status: {"description": summary, "headers": ETAG_HEADER}, **ERRORS},
    }


async def change_case(
    request: Request,
    principal: Principal,
    case_id: UUID,
    if_match: str | None,
    idempotency_key: str | None,
    body: BaseModel | None,
    build: BuildCommand,
    *,
    status: int = 200,
    model: type[CaseWritten] = CaseWritten,
    ids: dict[str, str] | None = None,
) -> JSONResponse:
    sid = str(case_id)
    expected = expected_version(if_match)

    async def authorize(conn: asyncpg.Connection) -> None:
        # Scope on the case as it stands now, before a stored response may be replayed.
        loaded = await load(case_writes(request).store, sid, fold, conn=conn)
        if not visible(principal, loaded.state):
            raise CaseNotVisible()

    async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
        written = await case_writes(request).change(
            conn,
            principal,
            sid,
            build,
            expected_version=expected,
            correlation_id=request.state.correlation_id,
        )
        answer = model(id=sid, version=written.version, **(ids or {}))
        return status, answer, {"ETag": etag(written.version)}

    return await run_write(request, principal, idempotency_key, body, work, authorize)
