"""What the referral routes share: the service objects, headers, writes and error mapping."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from services.referral.app.directory_admin import ProviderExists, UnknownProvider
from services.referral.app.directory_store import DirectoryCache
from services.referral.app.referrals import Referrals, StaleVersion
from services.referral.config import ReferralSettings
from services.referral.domain.errors import NotAssignedProvider, ReferralError, ReferralNotFound
from shared.auth import Principal
from shared.envelope import Actor
from shared.eventstore import ConcurrencyError
from shared.http_writes import Authorize, IdempotencyKey, Work, respond_once
from shared.problems import (
    ProblemError,
    ProblemFieldError,
    conflict,
    field_errors,
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
        description='The referral version the answer is based on (its `ETag`, e.g. `"2"`). '
        "Stale: 412 with `current_version`.",
    ),
]


@dataclass
class ReferralService:
    """What the routes and consumers of one process share (in ``runtime.extras``)."""

    settings: ReferralSettings
    cache: DirectoryCache
    referrals: Referrals


ETAG_HEADER = {
    "ETag": {"description": "The referral's version, quoted.", "schema": {"type": "string"}}
}
__all__ = ["ETAG_HEADER", "IdempotencyKey", "run_write"]


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


def service(request: Request) -> ReferralService:
    svc: ReferralService = runtime(request).extras["referral"]
    return svc


def reference_key(request: Request) -> bytes:
    return runtime(request).settings.case_reference_key.encode()


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    m = _ETAG.match(if_match.strip())
    return int(m.group(1)) if m else None


def actor_of(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, role=principal.role)


def correlation_id(request: Request) -> str:
    return str(request.state.correlation_id)


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
        problem_of,
        authorize=authorize,
    )


def problem_of(e: Exception) -> Exception:
    match e:
        case ReferralNotFound() | NotAssignedProvider():
            return not_found("No such referral.")
        case UnknownProvider():
            return not_found("No such provider.")
        case ProviderExists():
            return ProblemError(409, detail="The provider id is taken.", type_suffix="exists")
        case StaleVersion():
            return precondition_failed(e.current)
        case ConcurrencyError():
            return conflict(e.actual, "Another change to this referral was saved first.")
        case ReferralError():
            return ProblemError(409, "Conflict", str(e), type_suffix=e.code)
        case ValidationError():
            return unprocessable(
                "The request is invalid; nothing was changed.",
                [ProblemFieldError(**_in_body(err)) for err in field_errors(e.errors())],
            )
        case _:
            return e


def _in_body(err: dict[str, Any]) -> dict[str, Any]:
    return {**err, "path": "body" + ("." + err["path"] if err["path"] else "")}
