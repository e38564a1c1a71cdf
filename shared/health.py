"""``/healthz`` (the process is alive) and ``/readyz`` (its Postgres and NATS answer)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from shared.runtime import readiness

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "alive"}


@router.get(
    "/readyz",
    summary="Readiness: Postgres and NATS are reachable",
    responses={503: {"description": "A dependency is unavailable"}},
)
async def readyz(request: Request) -> Any:
    rt = getattr(request.app.state, "runtime", None)
    if rt is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    checks = await readiness(rt)
    ok = checks["postgres"] == "ok" and checks["nats"] == "ok"
    return JSONResponse(
        {"status": "ready" if ok else "unavailable", "checks": checks},
        status_code=200 if ok else 503,
    )
