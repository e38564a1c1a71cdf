"""The handover page: the provider that accepted a referral learns who is arriving,
within the survivor's consent (the case service's ``GET /referrals/{id}/handover``,
issue 13).

As on the case page, opening the page reads nothing: "Show who is arriving" (a POST with
the form's CSRF token) asks the case service, which records the read on the case's
access log before it answers. Which provider may read, and which fields, is that
service's decision (only the holder of an accepted or in-service referral; only the
consented categories); a refusal for want of consent is shown with the missing
categories, never a field."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import Apis
from services.web.errors import ApiProblem
from services.web.pages import render, signed_in
from services.web.security import checked_form

router = APIRouter()
FIELDS = ("given_name", "family_name", "contact_arrangement")


@router.get("/handover/{referral_id}")
async def handover_page(request: Request, referral_id: UUID) -> Response:
    signed_in(request, "provider")
    return render(request, "handover.html", referral_id=str(referral_id), handover=None)


@router.post("/handover/{referral_id}")
async def show_handover(request: Request, referral_id: UUID) -> Response:
    _, _principal, token = signed_in(request, "provider")
    await checked_form(request)
    apis: Apis = request.app.state.apis
    try:
        handover: dict[str, Any] = await apis.call(
            token, "case", "GET", f"/referrals/{referral_id}/handover"
        )
    except ApiProblem as p:
        missing = p.body.get("missing")
        if p.status != 403 or not isinstance(missing, list):
            raise
        known = [m for m in missing if m in ("identity", "contact")]
        return render(
            request,
            "handover.html",
            http_status=403,
            referral_id=str(referral_id),
            handover=None,
            missing=known,
        )
    return render(
        request,
        "handover.html",
        referral_id=str(referral_id),
        handover={k: handover.get(k) for k in FIELDS if k in handover},
        categories=[c for c in handover.get("categories", []) if c in ("identity", "contact")],
    )
