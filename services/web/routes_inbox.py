"""The provider's inbox: the referrals routed to this provider, with the minimum data the
referral service gives a provider; accept or decline with a reason, start, complete, or
record the service's outcome (which completes it).

Which referrals a provider sees is the referral service's decision: the inbox asks for
the provider id in the person's own token and nothing else, and an answer to a referral
the provider does not hold is that service's 404."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import Apis
from services.web.errors import ApiProblem
from services.web.forms import form_key, text
from services.web.pages import redirect, render, signed_in
from services.web.security import checked_form

router = APIRouter()
DECLINE_REASONS = (
    "no_capacity",
    "not_eligible",
    "outside_service_area",
    "service_unavailable",
    "safety_concern",
    "conflict_of_interest",
    "other",
)
ACTIONS = ("accept", "start", "complete")
OUTCOMES = ("delivered", "partly_delivered", "not_delivered")
OUTCOME_REASONS = (
    "person_did_not_attend",
    "person_declined",
    "person_moved",
    "service_unavailable",
    "referred_elsewhere",
    "other",
)
URGENCY_ORDER = {"emergency": 0, "urgent": 1, "routine": 2}


@router.get("/inbox")
async def inbox(request: Request) -> Response:
    _, principal, token = signed_in(request, "provider")
    apis: Apis = request.app.state.apis
    rows: list[dict[str, Any]] = await apis.call(
        token, "referral", "GET", f"/providers/{principal.provider_id}/referrals"
    )
    withdrawn = [r for r in rows if r["status"] == "withdrawn"]
    current = sorted(
        (r for r in rows if r["status"] != "withdrawn"),
        key=lambda r: (r["status"] != "awaiting_answer", URGENCY_ORDER.get(r["urgency"], 3)),
    )
    return render(
        request,
        "inbox.html",
        rows=current,
        withdrawn=len(withdrawn),
        reasons=DECLINE_REASONS,
        outcomes=OUTCOMES,
        outcome_reasons=OUTCOME_REASONS,
        done=request.query_params.get("done", ""),
    )


@router.post("/inbox/{referral_id}/{action}")
async def answer(request: Request, referral_id: UUID, action: str) -> Response:
    _, _principal, token = signed_in(request, "provider")
    form = await checked_form(request)
    apis: Apis = request.app.state.apis
    path = f"/referrals/{referral_id}"
    if action in ACTIONS:
        await apis.call(
            token, "referral", "POST", f"{path}/{action}", idempotency_key=form_key(form)
        )
    elif action == "outcome":  # delivered, partly or not (then with a reason): completes it
        outcome = {k: v for k in ("outcome", "reason_code") if (v := text(form, k)) is not None}
        try:
            await apis.call(
                token, "referral", "POST", f"{path}/outcome", json=outcome,
                idempotency_key=form_key(form),
            )  # fmt: skip
        except ApiProblem as p:
            if p.status != 422:
                raise
            return redirect("/inbox", done="outcome_incomplete")
    elif action == "decline":
        body = {"reason_code": text(form, "reason_code")}
        try:
            await apis.call(
                token,
                "referral",
                "POST",
                f"{path}/decline",
                json=body,
                idempotency_key=form_key(form),
            )
        except ApiProblem as p:
            if p.status != 422:
                raise
            return redirect("/inbox", done="decline_reason_missing")
    else:
        return redirect("/inbox")
    return redirect("/inbox", done=action)
