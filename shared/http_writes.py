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
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from shared.auth import Principal
from shared.idempotency import IdempotencyKeyReused, IdempotentWrite, fingerprint
from shared.problems import ProblemError

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

# work(conn) -> (status, response model, response headers), run in the write's transaction.
Work = Callable[[asyncpg.Connection], Awaitable[tuple[int, BaseModel, dict[str, str]]]]
# authorize(conn): raises (a problem, or an error ``to_problem`` maps) when the caller may
# not make this request now; runs first, before work and before any replay.
Authorize = Callable[[asyncpg.Connection], Awaitable[None]]
# What is kept for a replay, from the response body (e.g. without a secret shown once).
Redact = Callable[[dict[str, Any]], dict[str, Any]]


def principal_key(principal: Principal) -> str:
    """The stored responses' owner: every claim of the principal, unambiguously encoded."""
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
    payload = None if body is None else body.model_dump(mode="json")
    fp = fingerprint(request.method, request.url.path, payload)
    try:
        async with IdempotentWrite(pool, schema, principal_key(principal), key, fp) as w:
            if authorize is not None:
                await authorize(w.conn)
            if w.replay is not None:
                return JSONResponse(w.replay.body, w.replay.status, headers=w.replay.headers)
            status, model, headers = await work(w.conn)
            content = model.model_dump(mode="json")
            w.save(status, content if redact is None else redact(content), headers)
    except IdempotencyKeyReused:
        raise key_reused() from None
    except ProblemError:
        raise
    except Exception as e:
        raise to_problem(e) from None
    return JSONResponse(content, status, headers=headers)
