"""The supervisor's possible duplicates: pairs of cases that may be one person, found
by the case service's blind identity keys (issue 14), and the decision on each pair:
the same person (link), two people (dismiss), or taking a decision back.

The case service decides who may: supervisors, for pairs with at least one case in
their region; its entries carry no identifying field, and neither does this page. The
web app only passes the pair and the person's token on."""

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
SUPERVISING = ("supervisor",)
STATUSES = ("pending", "linked", "dismissed")
# What can be decided from each status (the case service refuses anything else).
ACTIONS = {"pending": ("link", "dismiss"), "linked": ("unlink",), "dismissed": ("reopen",)}


@router.get("/duplicates")
async def duplicates(
    request: Request, status: str = "pending", cursor: str | None = None
) -> Response:
    _, _principal, token = signed_in(request, *SUPERVISING)
    status = status if status in STATUSES else "pending"
    apis: Apis = request.app.state.apis
    params: dict[str, Any] = {"status": status, "limit": 50}
    if cursor:  # the API's own cursor, passed back as it gave it (it refuses a forged one)
        params["cursor"] = cursor[:200]
    page: dict[str, Any] = await apis.call(token, "case", "GET", "/duplicates", params=params)
    pairs = sorted(page.get("items", []), key=lambda p: -float(p.get("score", 0)))
    return render(
        request,
        "duplicates.html",
        pairs=pairs,
        next_cursor=page.get("next_cursor"),
        status=status,
        statuses=STATUSES,
        actions=ACTIONS,
        done=request.query_params.get("done", ""),
        problem=request.query_params.get("problem", ""),
    )


@router.post("/duplicates/{action}")
async def decide(request: Request, action: str) -> Response:
    _, _principal, token = signed_in(request, *SUPERVISING)
    form = await checked_form(request)
    back = text(form, "status") or "pending"
    back = back if back in STATUSES else "pending"
    if action not in ("link", "unlink", "dismiss", "reopen"):
        return redirect("/duplicates", status=back)
    try:
        pair = {"case_a": str(UUID(text(form, "case_a") or "")),
                "case_b": str(UUID(text(form, "case_b") or ""))}  # fmt: skip
    except ValueError:
        return redirect("/duplicates", status=back, problem="invalid")
    apis: Apis = request.app.state.apis
    try:
        await apis.call(
            token, "case", "POST", f"/duplicates/{action}", json=pair,
            idempotency_key=form_key(form),
        )  # fmt: skip
    except ApiProblem as p:
        if p.status not in (409, 422):
            raise
        return redirect("/duplicates", status=back, problem="refused")
    return redirect("/duplicates", status=back, done=action)
