"""The coordinator's page: referrals nobody could take (and those still waiting for an
answer), with the routing reasons; give one to a provider by hand with a reason, route it
again after the directory changed, or record that no provider exists for the need (the
referral ends unmet, with a reason code).

The referral service decides who may (a ``coordinator``, within its region when its token
names one, or an ``admin``) and records a hand assignment with the rules it overrides;
coordinators see the minimised referral, never the case id."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import Apis
from services.web.errors import ApiProblem, field_errors
from services.web.forms import form_key, text
from services.web.pages import gettext_for, redirect, render, signed_in
from services.web.routes_inbox import URGENCY_ORDER
from services.web.security import checked_form

router = APIRouter()
COORDINATING = ("coordinator", "admin")
ASSIGNMENT_REASONS = (
    "provider_agreed_exception",
    "travel_arranged",
    "directory_out_of_date",
    "no_other_option",
    "other",
)
UNMET_REASONS = (
    "no_provider_in_region",
    "no_provider_for_category",
    "person_moved",
    "referred_outside_mechanism",
    "other",
)


@router.get("/coordinate")
async def queue(request: Request, status: str = "unroutable") -> Response:
    _, _principal, token = signed_in(request, *COORDINATING)
    status = status if status in ("unroutable", "awaiting_answer") else "unroutable"
    apis: Apis = request.app.state.apis
    rows: list[dict[str, Any]] = await apis.call(
        token, "referral", "GET", "/coordinator/referrals", params={"status": status}
    )
    rows.sort(key=lambda r: (URGENCY_ORDER.get(r["urgency"], 3), str(r.get("respond_by"))))
    return render(
        request,
        "coordinate.html",
        rows=rows,
        status=status,
        reasons=ASSIGNMENT_REASONS,
        unmet_reasons=UNMET_REASONS,
        done=request.query_params.get("done", ""),
        problem=request.query_params.get("problem", ""),
    )


@router.post("/coordinate/{referral_id}/{action}")
async def act(request: Request, referral_id: UUID, action: str) -> Response:
    _, _principal, token = signed_in(request, *COORDINATING)
    form = await checked_form(request)
    apis: Apis = request.app.state.apis
    path = f"/referrals/{referral_id}"
    try:
        if action == "assign":
            body = {
                "provider_id": text(form, "provider_id"),
                "reason_code": text(form, "reason_code"),
            }
            await apis.call(
                token, "referral", "POST", f"{path}/assign", json=body,
                idempotency_key=form_key(form),
            )  # fmt: skip
        elif action == "close-unmet":
            body = {"reason_code": text(form, "reason_code")}
            await apis.call(
                token, "referral", "POST", f"{path}/close-unmet", json=body,
                idempotency_key=form_key(form),
            )  # fmt: skip
        elif action == "reroute":
            await apis.call(
                token, "referral", "POST", f"{path}/reroute", idempotency_key=form_key(form)
            )
        else:
            return redirect("/coordinate")
    except ApiProblem as p:
        if p.status not in (409, 422):
            raise
        errors = field_errors(p, gettext_for(request))
        problem = "provider" if errors.get("provider_id") else "reason"
        if action == "close-unmet":
            problem = "unmet_reason"
        if p.status == 409:
            problem = "refused"
        return redirect("/coordinate", problem=problem)
    return redirect("/coordinate", done=action)
