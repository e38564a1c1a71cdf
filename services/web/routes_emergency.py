"""Break the glass: a caseworker or supervisor opens a case outside their scope in an
emergency, with a written reason (``POST /cases/{id}/break-glass``).

The case service decides everything: who may (caseworkers and supervisors only), whether
the case is out of scope at all (409 ``in_scope`` otherwise), how long the access lasts;
it seals the reason, records the grant on the case's history and tells the owning
office's supervisors. The web app only asks for the reason and then opens the case
page, which the grant now lets the person read until it runs out."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import Apis
from services.web.errors import ApiProblem, FieldErrors, field_errors
from services.web.forms import Values, form_key, text
from services.web.pages import gettext_for, redirect, render, signed_in
from services.web.security import checked_form

router = APIRouter()
BREAKERS = ("caseworker", "supervisor")  # the API's own list


def _page(
    request: Request, case_id: UUID, values: Values, errors: FieldErrors | None = None,
    status: int | None = None,
) -> Response:  # fmt: skip
    return render(
        request,
        "break_glass.html",
        http_status=status or (422 if errors else 200),
        errors=errors,
        values=values,
        case_id=str(case_id),
    )


@router.get("/cases/{case_id}/break-glass")
async def break_glass_form(request: Request, case_id: UUID) -> Response:
    signed_in(request, *BREAKERS)
    return _page(request, case_id, Values())


@router.post("/cases/{case_id}/break-glass")
async def break_glass(request: Request, case_id: UUID) -> Response:
    _session, _principal, token = signed_in(request, *BREAKERS)
    form = await checked_form(request)
    body: dict[str, Any] = {}
    reason = text(form, "reason")
    if reason is not None:
        body["reason"] = reason
    apis: Apis = request.app.state.apis
    try:
        granted = await apis.call(
            token, "case", "POST", f"/cases/{case_id}/break-glass",
            json=body, idempotency_key=form_key(form),
        )  # fmt: skip
    except ApiProblem as p:
        if p.status == 409 and str(p.body.get("type", "")).endswith("/in_scope"):
            return redirect(f"/cases/{case_id}", done="in_scope")
        if p.status != 422:
            raise
        return _page(request, case_id, Values(form), field_errors(p, gettext_for(request)))
    return redirect(f"/cases/{case_id}", done="break_glass", until=_until(granted))


def _until(granted: Any) -> str:
    """The grant's end as the API said it (an RFC 3339 time), or nothing."""
    value = granted.get("expires_at") if isinstance(granted, dict) else None
    return value if isinstance(value, str) and until_time(value) is not None else ""


def until_time(value: str | None) -> datetime | None:
    """``?until=`` of the case page, only if it is a time (it is shown, never trusted)."""
    if not value or len(value) > 40:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
