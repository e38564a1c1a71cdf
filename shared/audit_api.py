"""``GET /audit/verify``: a service verifies its own store against the published checkpoints.

``?case=<stream>`` verifies one stream. Whether it exists is itself information, so a
stream the caller may not see is answered 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from shared.audit import published_checkpoints, verify_service
from shared.auth import Principal, require_roles
from shared.problems import not_found, problem_responses
from shared.runtime import Runtime

# Whether ``principal`` may see the stream ``stream_id`` (as it stands now). False for a
# stream that does not exist.
StreamVisible = Callable[[Runtime, Principal, str], Awaitable[bool]]


async def unscoped_only(rt: Runtime, principal: Principal, stream_id: str) -> bool:
    """The default for a service that does not say which of its streams a scope covers:
    only callers without a region scope may verify one stream."""
    return principal.region is None


def audit_router(stream_visible: StreamVisible = unscoped_only) -> APIRouter:
    """The audit routes; ``stream_visible`` decides who may verify one stream."""
    router = APIRouter(tags=["audit"])

    @router.get(
        "/audit/verify",
        summary="Verify hash chains, checkpoint signatures and checkpoint consistency",
        description="With `case`, only that stream's chain; a stream that does not exist "
        "or lies outside the caller's scope is 404.",
        responses=problem_responses(401, 403, 404, 422),
    )
    async def audit_verify(
        request: Request,
        principal: Annotated[Principal, Depends(require_roles("auditor", "admin"))],
        case: Annotated[str | None, Query(max_length=100, description="Only this stream")] = None,
    ) -> dict[str, Any]:
        rt: Runtime = request.app.state.runtime
        if case is not None and not await stream_visible(rt, principal, case):
            raise not_found("No such case.")
        s = rt.settings
        checkpoints = await published_checkpoints(rt.js, s.audit_stream, s.namespace, rt.service)
        report = await verify_service(
            rt.pool,
            rt.store.schema,
            public_key=s.audit_verify_key(),
            checkpoints=checkpoints,
            stream_id=case,
            verifier=rt.verifier,
        )
        if case is not None and report.events == 0:
            raise not_found("No such case.")
        return report.summary()

    return router
