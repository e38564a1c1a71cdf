"""What every response of the web app carries, and the CSRF check every form passes.

One place owns the Content-Security-Policy (as warehouse's ``csp.py`` does): nothing but
the app's own style sheet and images; no script at all, inline or not; forms post only to
the app itself; no framing. Pages are never cached: they may carry identifying data.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from fastapi import Request
from starlette.datastructures import FormData

from services.web.errors import PageError

CSRF_FIELD = "csrf_token"

CSP = "; ".join(
    (
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    )
)

HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Case ids are in the paths: never tell another site where the person came from.
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


async def checked_form(request: Request) -> FormData:
    """The posted form, after its CSRF token matched the session's (403 otherwise).

    Every POST route of the app reads its form through here; a test posts to each route
    without a token and with a wrong one."""
    form = await request.form()
    sent = form.get(CSRF_FIELD)
    expected = request.state.session.csrf
    if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise PageError(403, "csrf")
    return form
