"""The case plan on the web: its goals (one per assessed need) and follow-up dates.

Both are set whole with a PUT under an id the caller chooses (``PUT
/cases/{id}/plan/goals/{goal_id}``, ``PUT /cases/{id}/follow-ups/{follow_up_id}``): the
"add" form gets a fresh id when it is drawn, so sending it twice sets the same goal once.
The goal's wording and the follow-up's note are sealed: the case page reads the case
without identifying fields and does not see them. Because a PUT replaces the whole goal,
the edit form says so, and offers to show the current wording first (a POST, recorded
by the case service like the case page's "Show")."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.web.apis import Apis
from services.web.errors import ApiProblem, FieldErrors, field_errors
from services.web.forms import Values, form_key, text
from services.web.pages import error_page, gettext_for, redirect, render, signed_in
from services.web.routes_case_actions import WRITERS, refusal
from services.web.security import checked_form
from shared.events.vocabulary import SERVICE_TYPES

router = APIRouter()
# The API's own pattern for a goal or follow-up id (services/case/entrypoints/routes_plan.py).
ITEM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
GOAL_STATUSES = ("open", "achieved", "dropped")


@dataclass(frozen=True)
class Item:
    kind: str  # "goal" or "follow_up": the template's switch and the "done" notice
    path: str  # under /cases/{id}/, in the web app and in the API alike
    listed: str  # the case view's list of them
    id_field: str
    sealed: str  # the field sealed with the case key (not in a view without identifying)
    prefix: str  # of a fresh id


GOAL = Item("goal", "plan/goals", "plan", "goal_id", "description", "goal")
FOLLOW_UP = Item("follow_up", "follow-ups", "follow_ups", "follow_up_id", "note", "follow-up")


def body_of(item: Item, form: FormData) -> dict[str, Any]:
    """The API's body: typed fields, empty ones left out (a goal's status is open unless
    chosen; a follow-up is done only when ticked)."""
    names: tuple[str, ...] = ("need", "description", "provider_id", "due_on", "status")
    if item is FOLLOW_UP:
        names = ("due_on", "note")
    body: dict[str, Any] = {}
    for name in names:
        value = text(form, name)
        if value is not None:
            body[name] = value
    if item is FOLLOW_UP:
        body["done"] = form.get("done") == "on"
    return body


def _values(item: Item, found: dict[str, Any] | None) -> Values:
    """The form filled from the item as the case view gives it."""
    if found is None:
        return Values(status="open") if item is GOAL else Values()
    fields = {
        k: "" if found.get(k) is None else str(found[k])
        for k in ("need", "provider_id", "due_on", "status", item.sealed)
    }
    if item is FOLLOW_UP:
        fields["done"] = "on" if found.get("done") else ""
    return Values(**fields)


def _find(item: Item, case: dict[str, Any], item_id: str) -> dict[str, Any] | None:
    listed: list[dict[str, Any]] = case.get(item.listed) or []
    return next((x for x in listed if x.get(item.id_field) == item_id), None)


async def _case(request: Request, token: str, case_id: UUID, *, identifying: bool) -> Any:
    apis: Apis = request.app.state.apis
    params = {} if identifying else {"identifying": "false"}
    return await apis.call(token, "case", "GET", f"/cases/{case_id}", params=params)


async def _page(
    request: Request,
    item: Item,
    case: dict[str, Any],
    item_id: str,
    values: Values,
    errors: FieldErrors | None = None,
    *,
    status: int | None = None,
    shown: bool = False,
) -> Response:
    _ = gettext_for(request)
    found = _find(item, case, item_id)
    providers = await _providers(request) if item is GOAL else []
    headings = {
        ("goal", False): _("Add a goal to the case plan"),
        ("goal", True): _("Change a goal of the case plan"),
        ("follow_up", False): _("Add a follow-up"),
        ("follow_up", True): _("Change a follow-up"),
    }
    assessed = list((case.get("needs") or {}).get("needs") or [])
    if found and found.get("need") and found["need"] not in assessed:
        assessed.append(found["need"])  # a goal keeps its need after a new assessment
    return render(
        request,
        "plan_item.html",
        http_status=status or (422 if errors else 200),
        errors=errors,
        values=values,
        case=case,
        item=item,
        item_id=item_id,
        existing=found is not None,
        heading=headings[(item.kind, found is not None)],
        shown=shown,
        needs=[n for n in SERVICE_TYPES if n in assessed],
        statuses=GOAL_STATUSES,
        providers=providers,
        post_to=f"/cases/{case['id']}/{item.path}/{item_id}",
    )


async def _providers(request: Request) -> list[tuple[str, str]]:
    """The directory's providers not suspended, as (id, name in the reader's language):
    suggestions for the responsible provider, which stays a typed id (the API takes any)."""
    _session, _principal, token = signed_in(request, *WRITERS)
    apis: Apis = request.app.state.apis
    try:
        entries = await apis.call(token, "referral", "GET", "/directory/providers")
    except ApiProblem:
        return []
    lang = request.state.session.language
    found = [
        (e["provider"]["id"], e["provider"]["name"].get(lang) or e["provider"]["name"]["en"])
        for e in entries
        if not e.get("suspended")
    ]
    return sorted(found, key=lambda p: p[1])


def _checked_id(request: Request, item_id: str) -> Response | None:
    """A 404 page for an id the API would refuse anyway (and "new" as a real id)."""
    if item_id == "new" or not ITEM_ID.fullmatch(item_id):
        return error_page(request, 404, "not_found")
    return None


def _register(item: Item) -> None:
    base = f"/cases/{{case_id}}/{item.path}"

    async def new(request: Request, case_id: UUID) -> Response:
        _session, _principal, token = signed_in(request, *WRITERS)
        case = await _case(request, token, case_id, identifying=False)
        fresh = f"{item.prefix}-{secrets.token_hex(8)}"
        return await _page(request, item, case, fresh, _values(item, None))

    async def show(request: Request, case_id: UUID, item_id: str) -> Response:
        _session, _principal, token = signed_in(request, *WRITERS)
        if (refused := _checked_id(request, item_id)) is not None:
            return refused
        case = await _case(request, token, case_id, identifying=False)
        return await _page(request, item, case, item_id, _values(item, _find(item, case, item_id)))

    async def reveal(request: Request, case_id: UUID, item_id: str) -> Response:
        """The same form with the sealed text filled in: the case service records the
        read of the identifying fields before it answers."""
        _session, _principal, token = signed_in(request, *WRITERS)
        await checked_form(request)
        if (refused := _checked_id(request, item_id)) is not None:
            return refused
        case = await _case(request, token, case_id, identifying=True)
        values = _values(item, _find(item, case, item_id))
        return await _page(request, item, case, item_id, values, shown=True)

    async def submit(request: Request, case_id: UUID, item_id: str) -> Response:
        _session, _principal, token = signed_in(request, *WRITERS)
        form = await checked_form(request)
        if (refused := _checked_id(request, item_id)) is not None:
            return refused
        apis: Apis = request.app.state.apis
        try:
            await apis.call(
                token, "case", "PUT", f"/cases/{case_id}/{item.path}/{item_id}",
                json=body_of(item, form), idempotency_key=form_key(form),
            )  # fmt: skip
        except ApiProblem as p:
            if p.status not in (409, 422):
                raise
            _ = gettext_for(request)
            errors = field_errors(p, _) if p.status == 422 else FieldErrors(general=[refusal(p, _)])
            case = await _case(request, token, case_id, identifying=False)
            return await _page(request, item, case, item_id, Values(form), errors, status=p.status)
        return redirect(f"/cases/{case_id}", done=item.kind)

    router.add_api_route(f"{base}/new", new, methods=["GET"])
    router.add_api_route(f"{base}/{{item_id}}", show, methods=["GET"])
    router.add_api_route(f"{base}/{{item_id}}", submit, methods=["POST"])
    router.add_api_route(f"{base}/{{item_id}}/show", reveal, methods=["POST"])


_register(GOAL)
_register(FOLLOW_UP)
