"""Signing in and out, choosing the language, and the way home for each role."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.errors import FieldErrors, PageError
from services.web.forms import Values
from services.web.i18n import LANGUAGES
from services.web.oidc import SignInFailed
from services.web.pages import error_page, local_path, redirect, render, session_of
from services.web.security import checked_form
from shared.auth import ROLES, AuthError, authenticate, mint_token
from shared.events.vocabulary import CATEGORIES

router = APIRouter()

HOME = {
    "caseworker": "/cases",
    "supervisor": "/supervise",
    "provider": "/inbox",
    "auditor": "/audit",
    "admin": "/cases",
    "coordinator": "/coordinate",
}
DEV_TOKEN_HOURS = 8


@router.get("/")
async def home(request: Request) -> Response:
    s = session_of(request)
    if not s.signed_in or s.principal is None:
        return redirect("/signin")
    return redirect(HOME.get(s.principal.role, "/signin"))


@router.get("/signin")
async def sign_in_page(
    request: Request, next: str | None = None, signed_out: str | None = None
) -> Response:
    return render(
        request,
        "signin.html",
        signed_out=signed_out == "1",
        next=local_path(next, ""),
        oidc=request.app.state.oidc is not None,
        roles=ROLES,
        values_obj=Values(),
        categories=CATEGORIES,
    )


@router.post("/signin/dev")
async def dev_sign_in(request: Request) -> Response:
    """Development only: a token for the role, office, region and provider picked."""
    if not request.app.state.dev_sign_in:
        raise PageError(404, "dev_only")
    form = await checked_form(request)
    values = {
        k: str(form.get(k) or "").strip()
        for k in ("sub", "role", "office", "region", "provider_id")
    }
    # What a coordinator coordinates (IMCCTiP trafficking, NMAC mine_eo, the migration
    # service refugee_asylum); without one it acts on no referral (docs/security.md).
    categories = [c for c in form.getlist("categories") if isinstance(c, str)]
    _ = request.app.state.catalogs[session_of(request).language].gettext
    errors = FieldErrors()
    if values["role"] not in ROLES:
        errors.by_field["role"] = [_("Please choose one of the options.")]
    if values["role"] == "provider" and not values["provider_id"]:
        errors.by_field["provider_id"] = [_("A provider signs in for one provider id.")]
    if not values["sub"]:
        errors.by_field["sub"] = [_("Please fill this in.")]
    if any(c not in CATEGORIES for c in categories):
        errors.by_field["categories"] = [_("Please choose one of the options.")]
    token = None
    if not errors:
        try:
            token = mint_token(
                request.app.state.auth,
                values["sub"],
                values["role"],
                provider_id=values["provider_id"] or None,
                region=values["region"] or None,
                office=values["office"] or None,
                categories=categories if values["role"] == "coordinator" else (),
                ttl_seconds=DEV_TOKEN_HOURS * 3600,
            )
        except ValueError:
            errors.general.append(_("This value is not valid."))
    if token is None:
        return render(
            request,
            "signin.html",
            http_status=422,
            errors=errors,
            next=local_path(str(form.get("next") or ""), ""),
            oidc=request.app.state.oidc is not None,
            roles=ROLES,
            values_obj=Values(**values, categories=categories),
            categories=CATEGORIES,
        )
    return await _signed_in(request, token, str(form.get("next") or ""))


async def _signed_in(request: Request, token: str, next_path: str) -> Response:
    try:
        principal = await authenticate(token, request.app.state)
    except AuthError:
        return error_page(request, 403, "signin_failed")
    now: datetime = request.app.state.clock()
    expires = _expiry(token) or now + timedelta(hours=1)
    request.state.session = await request.app.state.sessions.sign_in(
        session_of(request), token, principal, expires, now
    )
    return redirect(local_path(next_path, HOME.get(principal.role, "/")))


def _expiry(token: str) -> datetime | None:
    exp = jwt.decode(token, options={"verify_signature": False}).get("exp")
    return datetime.fromtimestamp(exp, UTC) if isinstance(exp, int | float) else None


@router.get("/signin/oidc")
async def oidc_begin(request: Request) -> Response:
    oidc = request.app.state.oidc
    if oidc is None:
        raise PageError(404, "not_found")
    try:
        url = await oidc.begin(session_of(request))
    except SignInFailed:
        return error_page(request, 502, "signin_failed")
    return RedirectResponse(url, status_code=303)


@router.get("/signin/callback")
async def oidc_callback(
    request: Request, code: str | None = None, state: str | None = None
) -> Response:
    oidc = request.app.state.oidc
    if oidc is None:
        raise PageError(404, "not_found")
    try:
        token = await oidc.finish(session_of(request), code, state)
    except SignInFailed:
        return error_page(request, 403, "signin_failed")
    return await _signed_in(request, token, "")


@router.post("/signout")
async def sign_out(request: Request) -> Response:
    await checked_form(request)
    s = session_of(request)
    await request.app.state.sessions.end(s.id)
    request.state.session = await request.app.state.sessions.new(
        s.language, request.app.state.clock()
    )
    return redirect("/signin", signed_out="1")


@router.post("/language")
async def choose_language(request: Request) -> Response:
    form = await checked_form(request)
    lang = str(form.get("lang") or "")
    if lang in LANGUAGES:
        session_of(request).language = lang
        request.state.chosen_language = lang
    return redirect(local_path(str(form.get("next") or ""), "/"))
