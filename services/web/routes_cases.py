"""Caseworker pages: my cases, intake, the case page (identifying fields only on
request), consent, referral request with its routing, and the case's timeline."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from services.web.apis import Apis
from services.web.errors import ApiProblem, FieldErrors, field_errors
from services.web.forms import (
    ALIASES,
    Values,
    consent_body,
    form_key,
    intake_body,
    needs_body,
    referral_body,
)
from services.web.pages import gettext_for, redirect, render, signed_in
from services.web.routes_case_actions import TRANSFER_ID
from services.web.routes_emergency import BREAKERS, until_time
from services.web.security import checked_form
from services.web.timeline import case_timeline, referral_rows
from shared.events.vocabulary import CATEGORIES, REGIONS, SERVICE_TYPES, URGENCIES

router = APIRouter()
CASE_ROLES = ("caseworker", "supervisor", "admin")
WRITERS = ("caseworker", "supervisor", "admin")


def _apis(request: Request) -> Apis:
    apis: Apis = request.app.state.apis
    return apis


def _errors(request: Request, problem: ApiProblem) -> FieldErrors:
    errors = field_errors(problem, gettext_for(request))
    for alias, name in ALIASES.items():
        for message in errors.by_field.pop(alias, []):
            if message not in errors.by_field.setdefault(name, []):
                errors.by_field[name].append(message)
    return errors


@router.get("/cases")
async def my_cases(
    request: Request,
    status: str | None = None,
    category: str | None = None,
    cursor: str | None = None,
) -> Response:
    _, _principal, token = signed_in(request, *CASE_ROLES, "auditor")
    params = {
        "status": status if status in ("open", "closed") else None,
        "category": category if category in CATEGORIES else None,
        "cursor": cursor or None,
        "limit": 25,
    }
    page = await _apis(request).call(
        token, "case", "GET", "/cases", params={k: v for k, v in params.items() if v}
    )
    return render(
        request,
        "cases.html",
        page=page,
        status=params["status"] or "",
        category=params["category"] or "",
        categories=CATEGORIES,
        done=request.query_params.get("done", ""),
    )


def _intake(request: Request, values: Values, errors: FieldErrors | None = None) -> Response:
    return render(
        request,
        "intake.html",
        http_status=422 if errors else 200,
        errors=errors,
        values=values,
        regions=REGIONS,
        categories=CATEGORIES,
    )


@router.get("/cases/new")
async def intake_form(request: Request) -> Response:
    signed_in(request, *WRITERS)
    return _intake(request, Values(**{"profile.citizenship_status": "unknown"}))


@router.post("/cases/new")
async def intake(request: Request) -> Response:
    _, _principal, token = signed_in(request, *WRITERS)
    form = await checked_form(request)
    try:
        written = await _apis(request).call(
            token, "case", "POST", "/cases", json=intake_body(form), idempotency_key=form_key(form)
        )
    except ApiProblem as p:
        if p.status != 422:
            raise
        return _intake(request, Values(form), _errors(request, p))
    return redirect(f"/cases/{written['id']}", done="opened")


async def _case_page(request: Request, case_id: UUID, *, identifying: bool) -> Response:
    _, principal, token = signed_in(request, *CASE_ROLES)
    apis = _apis(request)
    params = {} if identifying else {"identifying": "false"}
    try:
        case = await apis.call(token, "case", "GET", f"/cases/{case_id}", params=params)
    except ApiProblem as p:
        if p.status != 404 or principal.role not in BREAKERS:
            raise
        # Not found, or outside the person's scope (the API does not say which): in an
        # emergency a caseworker or supervisor may ask to break the glass.
        return render(request, "not_in_scope.html", http_status=404, case_id=str(case_id))
    referrals = await apis.call(token, "referral", "GET", f"/cases/{case_id}/referrals")
    query = request.query_params
    transfer = query.get("transfer", "")
    return render(
        request,
        "case.html",
        case=case,
        referrals=referral_rows(referrals),
        timeline=case_timeline(case, referrals),
        done=query.get("done", ""),
        showing=identifying,
        writers=WRITERS,
        # The transfer just requested (its id from the API's answer), to cancel it.
        transfer=transfer if TRANSFER_ID.fullmatch(transfer) else "",
        until=until_time(query.get("until")),
    )


@router.get("/cases/{case_id}")
async def case_page(request: Request, case_id: UUID) -> Response:
    return await _case_page(request, case_id, identifying=False)


@router.post("/cases/{case_id}/show")
async def show_identifying(request: Request, case_id: UUID) -> Response:
    """Open the identifying fields: the case service records this read before answering."""
    await checked_form(request)
    return await _case_page(request, case_id, identifying=True)


async def _brief(request: Request, token: str, case_id: UUID) -> dict[str, Any]:
    case: dict[str, Any] = await _apis(request).call(
        token, "case", "GET", f"/cases/{case_id}", params={"identifying": "false"}
    )
    return case


def _consent(
    request: Request, case: dict[str, Any], values: Values, errors: FieldErrors | None = None
) -> Response:
    return render(
        request,
        "consent.html",
        http_status=422 if errors else 200,
        errors=errors,
        values=values,
        case=case,
        service_types=SERVICE_TYPES,
        purposes=("referral", "case_coordination", "follow_up", "statistics"),
        data_categories=("needs", "demographics", "contact", "identity", "medical", "narrative"),
        givers=("survivor", "parent_or_guardian", "legal_representative"),
    )


@router.get("/cases/{case_id}/consent")
async def consent_form(request: Request, case_id: UUID) -> Response:
    _, _principal, token = signed_in(request, *WRITERS)
    case = await _brief(request, token, case_id)
    needs = (case.get("needs") or {}).get("needs", [])
    defaults = Values(
        purpose="referral",
        given_by="survivor",
        service_types=needs,
        data_categories=["needs", "demographics"],
    )
    return _consent(request, case, defaults)


@router.post("/cases/{case_id}/consent")
async def consent(request: Request, case_id: UUID) -> Response:
    return await _case_form(
        request,
        case_id,
        "consents",
        consent_body,
        _consent,
        lambda written: redirect(f"/cases/{case_id}", done="consent"),
    )


def _needs(
    request: Request, case: dict[str, Any], values: Values, errors: FieldErrors | None = None
) -> Response:
    return render(
        request,
        "needs.html",
        http_status=422 if errors else 200,
        errors=errors,
        values=values,
        case=case,
        service_types=SERVICE_TYPES,
    )


@router.get("/cases/{case_id}/needs")
async def needs_form(request: Request, case_id: UUID) -> Response:
    _, _principal, token = signed_in(request, *WRITERS)
    case = await _brief(request, token, case_id)
    return _needs(request, case, Values(needs=(case.get("needs") or {}).get("needs", [])))


@router.post("/cases/{case_id}/needs")
async def record_needs(request: Request, case_id: UUID) -> Response:
    return await _case_form(
        request,
        case_id,
        "needs",
        needs_body,
        _needs,
        lambda written: redirect(f"/cases/{case_id}", done="needs"),
    )


def _referral(
    request: Request, case: dict[str, Any], values: Values, errors: FieldErrors | None = None
) -> Response:
    consents = [
        c
        for c in case.get("consents", [])
        if c["status"] == "active" and c["purpose"] == "referral"
    ]
    return render(
        request,
        "referral.html",
        http_status=422 if errors else 200,
        errors=errors,
        values=values,
        case=case,
        consents=consents,
        service_types=SERVICE_TYPES,
        urgencies=URGENCIES,
    )


@router.get("/cases/{case_id}/referral")
async def referral_form(request: Request, case_id: UUID) -> Response:
    _, _principal, token = signed_in(request, *WRITERS)
    case = await _brief(request, token, case_id)
    active = [c for c in case.get("consents", []) if c["status"] == "active"]
    defaults = Values(
        urgency="routine",
        needs=(case.get("needs") or {}).get("needs", []),
        consent_id=active[-1]["consent_id"] if active else "",
    )
    return _referral(request, case, defaults)


@router.post("/cases/{case_id}/referral")
async def request_referral(request: Request, case_id: UUID) -> Response:
    return await _case_form(
        request,
        case_id,
        "referrals",
        referral_body,
        _referral,
        lambda written: redirect(f"/cases/{case_id}/routing", request=written["referral_id"]),
    )


@router.get("/cases/{case_id}/routing")
async def routing(request: Request, case_id: UUID) -> Response:
    """Where each need of a referral request (``?request=<id>``) went, and why; the page
    reloads itself until every need is routed."""
    _, _principal, token = signed_in(request, *CASE_ROLES)
    wanted = request.query_params.get("request")
    apis = _apis(request)
    case = await _brief(request, token, case_id)
    rows = await apis.call(token, "referral", "GET", f"/cases/{case_id}/referrals")
    if wanted:
        rows = [r for r in rows if r["request_id"] == wanted]
    requested = next((r for r in case.get("referrals", []) if r["referral_id"] == wanted), None)
    expected = len(requested["needs"]) if requested else len(rows)
    providers = await _provider_names(request, token, rows)
    return render(
        request,
        "routing.html",
        case=case,
        rows=referral_rows(rows),
        pending=len(rows) < expected,
        providers=providers,
        request_id=wanted or "",
    )


async def _provider_names(
    request: Request, token: str, rows: list[dict[str, Any]]
) -> dict[str, str]:
    """Provider id → its name in the reader's language (the id when the directory says
    nothing)."""
    lang = request.state.session.language
    ids = {r["provider_id"] for r in rows if r.get("provider_id")}
    for r in rows:
        for c in (r.get("reasons") or {}).get("passed_over", []):
            ids.add(c["provider_id"])
    names: dict[str, str] = {}
    for pid in sorted(ids):
        try:
            entry = await _apis(request).call(
                token, "referral", "GET", f"/directory/providers/{pid}"
            )
        except ApiProblem:
            continue
        name = entry["provider"]["name"]
        names[pid] = name.get(lang) or name["en"]
    return names


async def _case_form(
    request: Request,
    case_id: UUID,
    path: str,
    body_of: Callable[[FormData], dict[str, Any]],
    page: Callable[[Request, dict[str, Any], Values, FieldErrors | None], Response],
    done: Callable[[dict[str, Any]], Response],
) -> Response:
    """Post a caseworker's form to ``/cases/{case_id}/{path}``: ``done`` with the API's
    answer, or the same ``page`` again with the API's 422 errors at their fields."""
    _, _principal, token = signed_in(request, *WRITERS)
    form = await checked_form(request)
    try:
        written = await _apis(request).call(
            token,
            "case",
            "POST",
            f"/cases/{case_id}/{path}",
            json=body_of(form),
            idempotency_key=form_key(form),
        )
    except ApiProblem as p:
        if p.status != 422:
            raise
        case = await _brief(request, token, case_id)
        return page(request, case, Values(form), _errors(request, p))
    return done(written)
