"""The auditor's pages: a case's history across the three services (filters by time and
event type), the case as it stood at a chosen moment, who read its identifying data, and
the verification of the audit chains and signed checkpoints, said in words."""

from __future__ import annotations

import re
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import SERVICES, Apis
from services.web.errors import ApiProblem
from services.web.pages import redirect, render, signed_in

router = APIRouter()
AUDIT_ROLES = ("auditor", "supervisor", "admin")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MOMENT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$")
DUSHANBE = "+05:00"  # dates and moments are entered in Dushanbe time


def _day(value: str | None, end: bool) -> str | None:
    if not value or not DATE.match(value):
        return None
    return f"{value}T{'23:59:59' if end else '00:00:00'}{DUSHANBE}"


def _moment(value: str | None) -> str | None:
    if not value or not MOMENT.match(value):
        return None
    return (value if value.count(":") == 2 else value + ":00") + DUSHANBE


@router.get("/audit")
async def audit_home(request: Request, case: str | None = None) -> Response:
    signed_in(request, *AUDIT_ROLES)
    if case:
        try:
            return redirect(f"/audit/cases/{UUID(case.strip())}")
        except ValueError:
            return render(request, "audit.html", bad_case=True)
    return render(request, "audit.html", bad_case=False)


@router.get("/audit/cases/{case_id}")
async def case_history(
    request: Request,
    case_id: UUID,
    since: str | None = None,
    until: str | None = None,
    type: str | None = None,
    as_of: str | None = None,
) -> Response:
    _, principal, token = signed_in(request, *AUDIT_ROLES)
    apis: Apis = request.app.state.apis
    params: list[tuple[str, str]] = []
    for name, value in (("from", _day(since, False)), ("to", _day(until, True))):
        if value:
            params.append((name, value))
    if type and re.fullmatch(r"[A-Za-z0-9.]{1,100}", type):
        params.append(("type", type))
    history = await apis.call(token, "case", "GET", f"/cases/{case_id}/history", params=params)
    access = await apis.call(token, "case", "GET", f"/cases/{case_id}/access-log")
    moment = _moment(as_of)
    then = None
    if moment:
        try:
            then = await apis.call(
                token,
                "case",
                "GET",
                f"/cases/{case_id}",
                params={"as_of": moment, "identifying": "false"},
            )
        except ApiProblem as p:
            if p.status != 404:
                raise
    checks = await _verify(apis, token, str(case_id), principal.role)
    return render(
        request,
        "history.html",
        case_id=str(case_id),
        entries=history["entries"],
        reads=access["reads"],
        then=then,
        as_of=as_of if moment else "",
        since=since or "",
        until=until or "",
        type=type or "",
        checks=checks,
        verified=all(c["ok"] for c in checks if c["ok"] is not None),
    )


async def _verify(apis: Apis, token: str, case_id: str, role: str) -> list[dict[str, Any]]:
    """The case's own chain, then each service's whole store (what the caller may verify)."""
    out: list[dict[str, Any]] = []
    if role not in ("auditor", "admin"):
        return out
    targets = [("case", {"case": case_id}, "case_chain")] + [(svc, {}, "store") for svc in SERVICES]
    for svc, params, scope in targets:
        try:
            report = await apis.call(token, svc, "GET", "/audit/verify", params=params)
        except ApiProblem as p:
            out.append({"service": svc, "scope": scope, "ok": None, "status": p.status})
            continue
        out.append(
            {
                "service": svc,
                "scope": scope,
                "ok": bool(report.get("ok")),
                "events": report.get("events", 0),
                "checkpoints": report.get("checkpoints_verified", 0),
                "breaks": report.get("chain_breaks", []),
                "problems": report.get("problems", []),
            }
        )
    return out
