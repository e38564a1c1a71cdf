"""The supervisor's page: unanswered, overdue and unroutable referrals of the region, most
urgent first.

There is no API that lists a region's referrals by state yet, so the page reads the
region's open cases (case API, newest 50) and each one's referrals (referral API), all
with the supervisor's own token: it shows no more than the supervisor may read, and a
region with more open cases shows only the newest 50 (docs/web.md says so)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.apis import Apis
from services.web.errors import PageError
from services.web.hooks import HOOKS
from services.web.pages import gettext_for, render, signed_in
from services.web.routes_inbox import URGENCY_ORDER

router = APIRouter()
CASES_READ = 50


def _when(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@router.get("/supervise")
async def supervise(request: Request) -> Response:
    _, _principal, token = signed_in(request, "supervisor", "admin")
    apis: Apis = request.app.state.apis
    now: datetime = request.app.state.clock()
    page = await apis.call(
        token, "case", "GET", "/cases", params={"status": "open", "limit": CASES_READ}
    )
    waiting: list[dict[str, Any]] = []
    unroutable: list[dict[str, Any]] = []
    for case in page["items"]:
        for r in await apis.call(token, "referral", "GET", f"/cases/{case['id']}/referrals"):
            if r["status"] == "unroutable":
                unroutable.append(r)
            elif r["status"] == "awaiting_answer":
                due = _when(r.get("respond_by"))
                r["overdue"] = due is not None and due < now.astimezone(UTC)
                r["escalated"] = r.get("attempt", 1) > 1
                waiting.append(r)

    def order(r: dict[str, Any]) -> tuple[int, bool, str]:
        return (URGENCY_ORDER.get(r["urgency"], 3), not r.get("overdue"), str(r.get("respond_by")))

    return render(
        request,
        "supervise.html",
        waiting=sorted(waiting, key=order),
        unroutable=sorted(unroutable, key=order),
        more=page.get("next_cursor") is not None,
        cases_read=CASES_READ,
    )


@router.get("/coming/{key}")
async def coming(request: Request, key: str) -> Response:
    """A page announced in the navigation whose API is not there yet (``hooks.py``)."""
    _, principal, _token = signed_in(request)
    hook = next((h for h in HOOKS if h.key == key and principal.role in h.roles), None)
    if hook is None:
        raise PageError(404, "not_found")
    _ = gettext_for(request)
    headings = {
        "statistics": _("Statistics"),
        "duplicates": _("Possible duplicates"),
        "handover": _("Handover"),
    }
    return render(request, "coming.html", heading=headings[key])
