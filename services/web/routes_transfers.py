"""Transfers waiting for the signed-in caseworker or supervisor (issue 13 item 7): the
case API's ``GET /transfers/incoming`` (only what this person may answer), and accept or
refuse with a reason, each with the person's own token. Who may answer is the case
service's decision: an answer to anything else is its 404."""

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
ROLES = ("caseworker", "supervisor")
REFUSALS = ("no_capacity", "outside_mandate", "outside_area", "conflict_of_interest", "other")


@router.get("/transfers")
async def transfers(request: Request) -> Response:
    _, _principal, token = signed_in(request, *ROLES)
    apis: Apis = request.app.state.apis
    rows: list[dict[str, Any]] = await apis.call(token, "case", "GET", "/transfers/incoming")
    return render(
        request,
        "transfers.html",
        rows=rows,
        reasons=REFUSALS,
        done=request.query_params.get("done", ""),
    )


@router.post("/transfers/{case_id}/{transfer_id}/{action}")
async def answer(request: Request, case_id: UUID, transfer_id: UUID, action: str) -> Response:
    _, _principal, token = signed_in(request, *ROLES)
    form = await checked_form(request)
    apis: Apis = request.app.state.apis
    path = f"/cases/{case_id}/transfers/{transfer_id}"
    if action == "accept":
        await apis.call(token, "case", "POST", f"{path}/accept", idempotency_key=form_key(form))
        return redirect(f"/cases/{case_id}", done="transfer_accepted")
    if action != "refuse":
        return redirect("/transfers")
    body = {"reason_code": text(form, "reason_code")}
    try:
        await apis.call(
            token, "case", "POST", f"{path}/refuse", json=body, idempotency_key=form_key(form)
        )
    except ApiProblem as p:
        if p.status != 422:
            raise
        return redirect("/transfers", done="reason_missing")
    return redirect("/transfers", done="refused")
