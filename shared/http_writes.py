"""HTTP writes done once per ``Idempotency-Key``: the header, and the one way to run them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

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
) -> JSONResponse:
    """Do ``work`` once per (caller, Idempotency-Key); a retry replays the first answer.

    Errors from ``work`` are turned into problems by ``to_problem`` (the service's own
    mapping of domain errors); the transaction is rolled back, so nothing is written.
    """
    payload = None if body is None else body.model_dump(mode="json")
    fp = fingerprint(request.method, request.url.path, payload)
    try:
        async with IdempotentWrite(pool, schema, f"{principal.role}:{principal.sub}", key, fp) as w:
            if w.replay is not None:
                return JSONResponse(w.replay.body, w.replay.status, headers=w.replay.headers)
            status, model, headers = await work(w.conn)
            content = model.model_dump(mode="json")
            w.save(status, content, headers)
    except IdempotencyKeyReused:
        raise key_reused() from None
    except ProblemError:
        raise
    except Exception as e:
        raise to_problem(e) from None
    return JSONResponse(content, status, headers=headers)
