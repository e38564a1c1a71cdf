"""The one shape of every change to a case: a route names its body and builds its command;
``Change`` (a dependency) brings the case id, the caller, ``If-Match`` and the
Idempotency-Key, and ``Change.run`` does the write."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import Depends, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.case.app.handling import BuildCommand, CaseNotVisible, MayAct, Written, visible
from services.case.app.loading import LoadedCase, load_case
from services.case.entrypoints.deps import CaseService, Service
from services.case.entrypoints.schemas import CaseWritten
from services.case.entrypoints.writes import ETAG_HEADER, IdempotencyKey, IfMatch
from shared.auth import CurrentPrincipal, Principal
from shared.http_writes import etag, expected_version
from shared.problems import problem_responses

CaseId = Annotated[UUID, Path(description="The case id (a UUID).")]
ConsentId = Annotated[
    str,
    Path(
        max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$", description="From POST consents."
    ),
]
ERRORS = problem_responses(401, 403, 404, 409, 412, 422)
# More of a write, in its transaction; what it returns (if anything) joins the answer.
After = Callable[[asyncpg.Connection, Written], Awaitable[dict[str, Any] | None]]


def doc(status: int, model: type[BaseModel], summary: str) -> dict[str, Any]:
    return {
        "status_code": status,
        "response_model": model,
        "summary": summary,
        "responses": {status: {"description": summary, "headers": ETAG_HEADER}, **ERRORS},
    }


@dataclass(frozen=True)
class CaseChange:
    """One requested change to one case: who asks, on which version, under which key."""

    request: Request
    principal: Principal
    case_id: str
    if_match: str | None
    idempotency_key: str | None
    service: CaseService

    async def run(
        self,
        body: BaseModel | None,
        build: BuildCommand,
        *,
        status: int = 200,
        model: type[CaseWritten] = CaseWritten,
        ids: dict[str, str] | None = None,
        after: After | None = None,
        may_act: MayAct | None = None,
    ) -> JSONResponse:
        """Decide ``build(case, key, now)`` on the case and answer ``model`` with the new
        version as ``ETag`` (and ``ids``, e.g. a new note's id), once per key. ``after``
        runs in the write's transaction; the fields it returns go into the answer."""
        sid, principal, svc = self.case_id, self.principal, self.service
        expected = expected_version(self.if_match)

        seen: list[LoadedCase] = []  # the case as ``authorize`` loaded it, for ``work``

        async def authorize(conn: asyncpg.Connection) -> None:
            # Scope on the case as it stands now, before a stored response may be replayed.
            loaded = await load_case(svc.store, sid, conn=conn)
            seen.append(loaded)
            # (Or the one act ``may_act`` allows: once it is done, e.g. a transfer accepted,
            # the caller is in scope and may still get its stored answer.)
            case = loaded.state
            if case is None:
                raise CaseNotVisible()
            if not (visible(principal, case) or (may_act is not None and may_act(principal, case))):
                raise CaseNotVisible()

        async def work(conn: asyncpg.Connection) -> tuple[int, BaseModel, dict[str, str]]:
            written = await svc.writes.change(
                conn,
                principal,
                sid,
                build,
                expected_version=expected,
                correlation_id=self.request.state.correlation_id,
                may_act=may_act,
                # Loaded by ``authorize`` just before, in this transaction: one read of
                # the stream per write (a concurrent append still fails ours on version).
                loaded=seen[-1],
            )
            extra = None
            if after is not None:  # more of the same write, in its transaction
                extra = await after(conn, written)
            answer = model(id=sid, version=written.version, **(ids or {}), **(extra or {}))
            return status, answer, {"ETag": etag(written.version)}

        return await svc.http.run(
            self.request, principal, self.idempotency_key, body, work, authorize=authorize
        )


async def case_change(
    request: Request,
    case_id: CaseId,
    principal: CurrentPrincipal,
    service: Service,
    if_match: IfMatch = None,
    idempotency_key: IdempotencyKey = None,
) -> CaseChange:
    return CaseChange(request, principal, str(case_id), if_match, idempotency_key, service)


Change = Annotated[CaseChange, Depends(case_change)]
