"""Rendering a page: the template, the reader's language, the session's CSRF token and
the vocabulary, so every template has the same few names to work with."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.web.errors import FieldErrors, PageError, page_message
from services.web.i18n import LANGUAGE_NAMES, LANGUAGES, Formats
from services.web.security import CSRF_FIELD
from services.web.sessions import Session
from services.web.vocabulary import labels
from shared.auth import Principal

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )


def session_of(request: Request) -> Session:
    s: Session = request.state.session
    return s


def signed_in(request: Request, *roles: str) -> tuple[Session, Principal, str]:
    """The session, principal and token of a signed-in person with one of ``roles``;
    a person not signed in is sent to sign in, one with another role gets 403."""
    s = session_of(request)
    if not s.signed_in or s.principal is None or s.token is None:
        raise SignInFirst(request.url.path)
    if roles and s.principal.role not in roles:
        raise PageError(403, "forbidden")
    return s, s.principal, s.token


class SignInFirst(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path
        super().__init__(next_path)


def gettext_for(request: Request) -> Any:
    catalogs = request.app.state.catalogs
    return catalogs[session_of(request).language].gettext


def render(
    request: Request,
    template: str,
    http_status: int = 200,
    errors: FieldErrors | None = None,
    **context: Any,
) -> HTMLResponse:
    s = session_of(request)
    _ = gettext_for(request)
    ctx = {
        "_": _,
        "lang": s.language,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "csrf_field": CSRF_FIELD,
        "csrf_token": s.csrf,
        # A fresh key for each form on the page: sent twice, a form changes things once.
        "form_id": lambda: secrets.token_urlsafe(18),
        "principal": s.principal if s.signed_in else None,
        "fmt": Formats(s.language),
        "label": labels(_),
        "errors": errors or FieldErrors(),
        "path": request.url.path,
        "query": request.url.query,
        "dev_sign_in": request.app.state.dev_sign_in,
        "hooks": request.app.state.hooks,
        **context,
    }
    html = request.app.state.jinja.get_template(template).render(ctx)
    return HTMLResponse(html, status_code=http_status)


def error_page(request: Request, status: int, kind: str) -> HTMLResponse:
    _ = gettext_for(request)
    return render(request, "error.html", http_status=status, message=page_message(kind, _))


def redirect(path: str, **params: str) -> RedirectResponse:
    query = urlencode({k: v for k, v in params.items() if v})
    return RedirectResponse(path + ("?" + query if query else ""), status_code=303)


def local_path(candidate: str | None, default: str = "/") -> str:
    """``candidate`` if it is a path on this site (never ``//evil`` or a full URL)."""
    if (
        candidate
        and candidate.startswith("/")
        and not candidate.startswith("//")
        and "\\" not in candidate
        and all(ord(c) > 31 for c in candidate)
    ):
        return candidate
    return default
