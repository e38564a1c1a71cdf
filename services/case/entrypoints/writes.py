"""What every write route shares: If-Match, Idempotency-Key and the error contract.

``run_write`` opens the transaction that holds the Idempotency-Key row, lets the route do
its work on that connection, stores the response with the key, and maps failures to
problems: a stale ``If-Match`` → 412, a concurrent writer that won → 409 (both with the
current version), a refused command → 409 with the domain error's code (404 for an unknown
case), invalid input → 422, a reused key with another body → 422.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from services.case.app.handling import CaseNotVisible, CaseWrites, OutOfScope, StaleVersion
from services.case.domain.errors import CaseNotFound, DomainError
from shared.auth import Principal
from shared.crypto import PgKeyStore, master_key_from_setting
from shared.eventstore import ConcurrencyError
from shared.http_writes import Authorize, IdempotencyKey, Work, respond_once
from shared.problems import (
    ProblemError,
    ProblemFieldError,
    conflict,
    field_errors,
    forbidden,
    not_found,
    precondition_failed,
    unprocessable,
)
from shared.runtime import Runtime

_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        pattern=r'^(W/)?"?\d{1,9}"?$',
        description='The case version the change is based on (the `ETag`, e.g. `"3"`). '
        "Stale: 412 with `current_version`.",
    ),
]

ETAG_HEADER = {
    "ETag": {"description": "The case's new version, quoted.", "schema": {"type": "string"}}
}
LOCATION_HEADER = {
    "Location": {"description": "URL of the new case.", "schema": {"type": "string"}}
}
__all__ = ["ETAG_HEADER", "LOCATION_HEADER", "IdempotencyKey", "IfMatch", "run_write"]


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    m = _ETAG.match(if_match.strip())
    if m is None:  # the header's pattern already refuses this; kept for direct callers
        raise unprocessable("If-Match must be a version as returned in ETag")
    return int(m.group(1))


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def case_writes(request: Request) -> CaseWrites:
    rt = runtime(request)
    writes: CaseWrites | None = rt.extras.get("case_writes")
    if writes is None:
        keys = PgKeyStore(rt.pool, rt.store.schema, master_key_from_setting(rt.settings.master_key))
        writes = rt.extras["case_writes"] = CaseWrites(rt.store, keys)
    return writes


async def run_write(
    request: Request,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    work: Work,
    authorize: Authorize | None = None,
) -> JSONResponse:
    """Do ``work`` once per Idempotency-Key and answer with its (status, model, headers).

    ``authorize`` runs first, also before a stored response is replayed."""
    rt = runtime(request)
    return await respond_once(
        request,
        rt.pool,
        rt.store.schema,
        principal,
        key,
        body,
        work,
        _problem,
        authorize=authorize,
    )


def _problem(e: Exception) -> Exception:
    match e:
        case CaseNotVisible() | CaseNotFound():
            return not_found("No such case.")
        case OutOfScope():
            return forbidden("You may not open a case outside your office or region.")
        case StaleVersion():
            return precondition_failed(e.current)
        case ConcurrencyError():
            return conflict(e.actual, "Another change to this case was saved first; reload it.")
        case DomainError():
            return ProblemError(409, "Conflict", e.message, type_suffix=e.code)
        case ValidationError():
            return unprocessable(
                "The request is invalid; nothing was changed.",
                [ProblemFieldError(**_in_body(err)) for err in field_errors(e.errors())],
            )
        case _:
            return e


def _in_body(err: dict[str, Any]) -> dict[str, Any]:
    return {**err, "path": "body" + ("." + err["path"] if err["path"] else "")}
