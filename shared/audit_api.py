"""``GET /audit/verify``: a service verifies its own store against the published checkpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from shared.audit import published_checkpoints, verify_service
from shared.auth import Principal, require_roles
from shared.problems import problem_responses

router = APIRouter(tags=["audit"])


@router.get(
    "/audit/verify",
    summary="Verify hash chains, checkpoint signatures and checkpoint consistency",
    responses=problem_responses(401, 403),
)
async def audit_verify(
    request: Request,
    _: Annotated[Principal, Depends(require_roles("auditor", "admin"))],
    case: Annotated[str | None, Query(max_length=100, description="Only this stream")] = None,
) -> dict[str, Any]:
    rt = request.app.state.runtime
    s = rt.settings
    checkpoints = await published_checkpoints(rt.js, s.audit_stream, s.namespace, rt.service)
    report = await verify_service(
        rt.pool,
        rt.store.schema,
        public_key=s.audit_verify_key(),
        checkpoints=checkpoints,
        stream_id=case,
    )
    return report.summary()
