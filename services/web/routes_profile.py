"""Changing the survivor's profile (``PUT /cases/{id}/profile``): language, interpreter,
region and district, categories, the person's clear facts and the sealed identifying
details.

The API replaces the profile whole, so the form must start from the whole profile,
identifying details included: the page first says so, and only "Open the profile" (a
POST) reads them, which the case service records as a look like the case page's "Show".
The category facts (exploitation, mine incident, asylum) have no fields here: the web
app reads them again when the form is sent (recorded too) and sends them unchanged for
each category still ticked, so a change of language never erases them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.web.apis import Apis
from services.web.errors import ApiProblem, FieldErrors, field_errors
from services.web.forms import PROFILE_TEXT, Values, form_key, many, text
from services.web.pages import error_page, gettext_for, redirect, render, signed_in
from services.web.routes_case_actions import WRITERS, refusal
from services.web.security import checked_form
from shared.events.vocabulary import CATEGORIES, REGIONS

router = APIRouter()
# The intake's profile fields less the kind of disability (kept, not edited here: the
# form carries it over while a disability is ticked), plus the region the intake asks once.
TEXT = (*(n for n in PROFILE_TEXT if n != "disability_kind"), "region")
IDENTIFYING = (
    "given_name",
    "family_name",
    "date_of_birth",
    "estimated_age_years",
    "contact_arrangement",
    "address",
    "narrative",
    "language_label",
)
CLEAR = ("sex", "nationality", "citizenship_status", "language", "region", "district")
FORM_FIELDS = frozenset((*TEXT, "categories", "document_numbers", "disability"))
# Category facts: the clear ones the view shows, less what the service derives from the
# sealed dates, plus those sealed dates (in the view's identifying part) under the names
# the API takes (services/case/entrypoints/schemas_facts.py).
FACTS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "trafficking": (
        ("exploitation_start_year", "exploitation_months"),
        {"period_start": "exploitation_started_on", "period_end": "exploitation_ended_on"},
    ),
    "mine_eo": (
        ("incident_year",),
        {"incident_date": "incident_date", "casualty_record_id": "casualty_record_id"},
    ),
    "refugee_asylum": (("arrival_year",), {"arrival_date": "arrival_date"}),
}


def values_of(profile: dict[str, Any]) -> Values:
    """The form filled from the profile as the case view gives it (identifying visible)."""
    who = profile.get("identifying") or {}
    fields: dict[str, str | list[str]] = {}
    for name in CLEAR:
        if profile.get(name) is not None:
            fields[name] = str(profile[name])
    for name in IDENTIFYING:
        if who.get(name) is not None:
            fields[name] = str(who[name])
    fields["document_numbers"] = "\n".join(who.get("document_numbers") or [])
    fields["categories"] = list(profile.get("categories") or [])
    fields["interpreter_needed"] = "on" if profile.get("interpreter_needed") else ""
    fields["disability"] = "on" if profile.get("disability") else ""
    return Values(**fields)


def carried_facts(profile: dict[str, Any] | None, categories: list[str]) -> dict[str, Any]:
    """The category facts as recorded, for the categories still ticked."""
    if not profile:
        return {}
    who = profile.get("identifying") or {}
    out: dict[str, Any] = {}
    for name, (derived, sealed) in FACTS.items():
        facts = profile.get(name)
        if not facts or name not in categories:
            continue
        given = {k: v for k, v in facts.items() if k not in derived}
        for field, source in sealed.items():
            if who.get(source) is not None:
                given[field] = who[source]
        out[name] = given
    return out


def body_of(form: FormData, current: dict[str, Any] | None) -> dict[str, Any]:
    """The whole profile: what was typed (empty fields left out), the category facts
    carried over, and the kind of disability kept while a disability is ticked."""
    body: dict[str, Any] = {}
    for name in TEXT:
        value = text(form, name)
        if value is not None:
            body[name] = value
    body["categories"] = many(form, "categories")
    body["disability"] = form.get("disability") == "on"
    body["interpreter_needed"] = form.get("interpreter_needed") == "on"
    documents = text(form, "document_numbers") or ""
    body["document_numbers"] = [d.strip() for d in documents.splitlines() if d.strip()]
    if body["disability"] and current and current.get("disability_kind"):
        body["disability_kind"] = current["disability_kind"]
    body.update(carried_facts(current, body["categories"]))
    return body


async def _case(request: Request, token: str, case_id: UUID, *, identifying: bool) -> Any:
    apis: Apis = request.app.state.apis
    params = {} if identifying else {"identifying": "false"}
    return await apis.call(token, "case", "GET", f"/cases/{case_id}", params=params)


def _page(
    request: Request,
    case: dict[str, Any],
    values: Values | None,
    errors: FieldErrors | None = None,
    status: int | None = None,
) -> Response:
    """``values`` None: the page before the profile is opened (no identifying data)."""
    return render(
        request,
        "profile.html",
        http_status=status or (422 if errors else 200),
        errors=errors,
        values=values or Values(),
        opened=values is not None,
        case=case,
        regions=REGIONS,
        categories=CATEGORIES,
    )


def _errors(request: Request, problem: ApiProblem) -> FieldErrors:
    """The API's errors at the form's fields; those naming a field the form lacks (a
    category fact) above the form."""
    errors = field_errors(problem, gettext_for(request))
    for name in [n for n in errors.by_field if n not in FORM_FIELDS]:
        for message in errors.by_field.pop(name):
            if message not in errors.general:
                errors.general.append(message)
    return errors


@router.get("/cases/{case_id}/profile")
async def profile_page(request: Request, case_id: UUID) -> Response:
    _session, _principal, token = signed_in(request, *WRITERS)
    case = await _case(request, token, case_id, identifying=False)
    if case.get("identity_erased"):
        return error_page(request, 409, "conflict")
    return _page(request, case, None)


@router.post("/cases/{case_id}/profile/open")
async def open_profile(request: Request, case_id: UUID) -> Response:
    """The form filled with the profile: the case service records the read first."""
    _session, _principal, token = signed_in(request, *WRITERS)
    await checked_form(request)
    case = await _case(request, token, case_id, identifying=True)
    if case.get("identity_erased"):
        return error_page(request, 409, "conflict")
    return _page(request, case, values_of(case.get("profile") or {}))


@router.post("/cases/{case_id}/profile")
async def change_profile(request: Request, case_id: UUID) -> Response:
    _session, _principal, token = signed_in(request, *WRITERS)
    form = await checked_form(request)
    apis: Apis = request.app.state.apis
    # The recorded profile, for the category facts the form has no fields for.
    current = await _case(request, token, case_id, identifying=True)
    try:
        await apis.call(
            token, "case", "PUT", f"/cases/{case_id}/profile",
            json=body_of(form, current.get("profile")), idempotency_key=form_key(form),
        )  # fmt: skip
    except ApiProblem as p:
        if p.status not in (409, 422):
            raise
        _ = gettext_for(request)
        errors = _errors(request, p) if p.status == 422 else FieldErrors(general=[refusal(p, _)])
        return _page(request, current, Values(form), errors, status=p.status)
    return redirect(f"/cases/{case_id}", done="profile")
