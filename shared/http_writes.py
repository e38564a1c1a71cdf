"""HTTP writes done once per ``Idempotency-Key``: the header, and the one way to run them.

A stored response belongs to the whole principal that caused it (every claim the token
carries: role, subject, provider, office, region), and is replayed only after the caller
has been authorised again for the request, on the resource as it stands now. So a token
that shares a ``sub`` with another (one NGO portal acting for two providers) never
receives the other's answer, and a caller who lost access meanwhile gets the same 404
as any other caller without access.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from shared.auth import Principal
from shared.commands import StaleVersion
from shared.eventstore import ConcurrencyError
from shared.idempotency import IdempotencyKeyReused, IdempotentWrite, fingerprint
from shared.problems import (
    ProblemError,
    ProblemFieldError,
    conflict,
    field_errors,
    precondition_failed,
    unprocessable,
)

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="A unique key per intended change: a retry with the same key and body "
        "returns the first response and changes nothing.",
    ),
]

IF_MATCH_PATTERN = r'^(W/)?"?\d{1,9}"?$'
_ETAG = re.compile(r'^(?:W/)?"?(\d{1,9})"?$')


def if_match_header(description: str) -> Any:
    """The ``If-Match`` header: a version as ``ETag`` gave it (``"3"``, ``W/"3"``, ``3``).
    ``IfMatch = Annotated[str | None, if_match_header("The case version ...")]``."""
    return Header(alias="If-Match", pattern=IF_MATCH_PATTERN, description=description)


def etag(version: int) -> str:
    """A stream version as an ``ETag`` value."""
    return f'"{version}"'


def expected_version(if_match: str | None) -> int | None:
    """The version ``If-Match`` names (None without the header)."""
    if if_match is None:
        return None
    m = _ETAG.match(if_match.strip())
    if m is None:  # the header's pattern already refuses this; kept for direct callers
        raise unprocessable("If-Match must be a version as returned in ETag")
    return int(m.group(1))


class RenderedJSON(JSONResponse):
    """A ``JSONResponse`` given a document already encoded as JSON (``model_dump_json``)."""

    def render(self, content: Any) -> bytes:
        return content.encode("utf-8") if isinstance(content, str) else bytes(content)


# work(conn) -> (status, response model, response headers), run in the write's transaction.
Work = Callable[[asyncpg.Connection], Awaitable[tuple[int, BaseModel, dict[str, str]]]]
# authorize(conn): raises (a problem, or an error ``to_problem`` maps) when the caller may
# not make this request now; runs first, before work and before any replay.
Authorize = Callable[[asyncpg.Connection], Awaitable[None]]
# What is kept for a replay, from the response body (e.g. without a secret shown once).
Redact = Callable[[dict[str, Any]], dict[str, Any]]


@functools.lru_cache(maxsize=1024)
def principal_key(principal: Principal) -> str:
    """The stored responses' owner: every claim of the principal, unambiguously encoded.
    Kept per principal (a frozen, hashable value that every write of a client repeats):
    ``asdict`` and the dump cost about 1% of the case service's time under intake."""
    return json.dumps(dataclasses.asdict(principal), sort_keys=True, separators=(",", ":"))


def key_reused() -> ProblemError:
    return ProblemError(
        422,
        "Idempotency-Key reused",
        "This Idempotency-Key was used for a different request.",
        type_suffix="idempotency-key-reused",
    )


async def respond_once(
    request: Request,
    pool: asyncpg.Pool,
    schema: str,
    principal: Principal,
    key: str | None,
    body: BaseModel | None,
    work: Work,
    to_problem: Callable[[Exception], Exception],
    *,
    authorize: Authorize | None = None,
    redact: Redact | None = None,
) -> JSONResponse:
    """Do ``work`` once per (principal, Idempotency-Key); a retry replays the first answer.

    ``authorize`` runs first, in the same transaction, for a first request and a retry
    alike: a stored response is never replayed to a caller who may not make the request
    now. Routes whose only checks are the role (``require_roles``) and the path, done
    before this call, need none. ``redact`` gives what is stored for replays (default: the
    whole body). Errors from ``authorize`` and ``work`` are turned into problems by
    ``to_problem`` (the service's own mapping of domain errors); the transaction is rolled
    back, so nothing is written.
    """
    fp = b""  # only a request with a key is remembered, so only it needs its fingerprint
    if key is not None:
        payload = None if body is None else body.model_dump(mode="json")
        fp = fingerprint(request.method, request.url.path, payload)
    try:
        async with IdempotentWrite(pool, schema, principal_key(principal), key, fp) as w:
            if authorize is not None:
                await authorize(w.conn)
            if w.replay is not None:
                return JSONResponse(w.replay.body, w.replay.status, headers=w.replay.headers)
            status, model, headers = await work(w.conn)
            if key is None:
                # Nothing is kept: the model straight to JSON (pydantic's own encoder, the
                # same document as a dict through ``json.dumps``, one pass instead of two).
                rendered = model.model_dump_json()
            else:
                content = model.model_dump(mode="json")
                w.save(status, content if redact is None else redact(content), headers)
    except IdempotencyKeyReused:
        raise key_reused() from None
    except ProblemError:
        raise
    except Exception as e:
        raise to_problem(e) from None
    if key is None:
        return RenderedJSON(rendered, status, headers=headers)
    return JSONResponse(content, status, headers=headers)


def write_problem(e: Exception, conflict_detail: str) -> Exception | None:
    """The problems every service's writes share (None for any other error): a stale
    ``If-Match`` → 412 and a concurrent writer that won → 409, both with the current
    version; a body the command refuses to build from → 422 with its field paths."""
    match e:
        case StaleVersion():
            return precondition_failed(e.current)
        case ConcurrencyError():
            return conflict(e.actual, conflict_detail)
        case ValidationError():
            return unprocessable(
                "The request is invalid; nothing was changed.",
                [ProblemFieldError(**_in_body(err)) for err in field_errors(e.errors())],
            )
        case _:
            return None


def _in_body(err: dict[str, Any]) -> dict[str, Any]:
    return {**err, "path": "body" + ("." + err["path"] if err["path"] else "")}


@dataclasses.dataclass(frozen=True)
class HttpWrites:
    """One service's HTTP writes: the pool and schema that hold its Idempotency-Key rows,
    and how its own errors become problems. ``problem_of`` maps the service's errors and
    returns None for the rest, which ``write_problem`` maps; what neither knows is raised
    as it is (a 500). The writes do not own the pool."""

    pool: asyncpg.Pool
    schema: str
    problem_of: Callable[[Exception], Exception | None]
    conflict_detail: str

    async def run(
        self,
        request: Request,
        principal: Principal,
        key: str | None,
        body: BaseModel | None,
        work: Work,
        *,
        authorize: Authorize | None = None,
        redact: Redact | None = None,
    ) -> JSONResponse:
        """``respond_once`` with this service's pool, schema and error mapping: ``work``
        once per (principal, Idempotency-Key), ``authorize`` first, also before a replay."""
        return await respond_once(
            request,
            self.pool,
            self.schema,
            principal,
            key,
            body,
            work,
            self.to_problem,
            authorize=authorize,
            redact=redact,
        )

    def to_problem(self, e: Exception) -> Exception:
        problem = self.problem_of(e)
        if problem is None:
            problem = write_problem(e, self.conflict_detail)
        return e if problem is None else problem
