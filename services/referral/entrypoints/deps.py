"""What the referral routes are given: the service's parts (built once per process by
``services.referral.bootstrap``, reached through the typed dependency ``Service``) and
the referral's side of the write contract (the rest is ``shared.http_writes``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from services.referral.app.directory_admin import ProviderExists, UnknownProvider
from services.referral.app.directory_store import DirectoryCache
from services.referral.app.referrals import Referrals
from services.referral.config import ReferralSettings
from services.referral.domain.errors import (
    NotAssignedProvider,
    OutcomeReasonRequired,
    ReferralError,
    ReferralNotFound,
)
from shared.app import service_dependency
from shared.auth import Principal
from shared.envelope import Actor
from shared.eventstore import EventStore
from shared.http_writes import HttpWrites, IdempotencyKey, if_match_header
from shared.problems import ProblemError, ProblemFieldError, not_found, unprocessable
from shared.times import Clock

IfMatch = Annotated[
    str | None,
    if_match_header(
        'The referral version the answer is based on (its `ETag`, e.g. `"2"`). '
        "Stale: 412 with `current_version`."
    ),
]


@dataclass(frozen=True)
class ReferralService:
    """The referral service's parts, shared by its routes, consumer and timer. The pool
    and store belong to the runtime (it closes them)."""

    settings: ReferralSettings
    pool: asyncpg.Pool
    store: EventStore
    cache: DirectoryCache
    referrals: Referrals
    http: HttpWrites
    reference_key: bytes  # pseudonymous case references for providers
    clock: Clock


Service = Annotated[ReferralService, Depends(service_dependency(ReferralService))]

ETAG_HEADER = {
    "ETag": {"description": "The referral's version, quoted.", "schema": {"type": "string"}}
}
CONFLICT = "Another change to this referral was saved first."
__all__ = ["CONFLICT", "ETAG_HEADER", "IdempotencyKey", "IfMatch", "Service", "problem_of"]


def actor_of(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, role=principal.role)


def correlation_id(request: Request) -> str:
    return str(request.state.correlation_id)


def problem_of(e: Exception) -> Exception | None:
    """The referral's own errors as problems; None for the ones every service shares."""
    match e:
        case ReferralNotFound() | NotAssignedProvider():
            return not_found("No such referral.")
        case UnknownProvider():
            return not_found("No such provider.")
        case ProviderExists():
            return ProblemError(409, detail="The provider id is taken.", type_suffix="exists")
        case OutcomeReasonRequired():
            field = ProblemFieldError(
                path="body.reason_code", message="required unless delivered", type="missing"
            )
            return unprocessable("An outcome other than delivered needs a reason code.", [field])
        case ReferralError():
            return ProblemError(409, "Conflict", str(e), type_suffix=e.code)
        case _:
            return None
