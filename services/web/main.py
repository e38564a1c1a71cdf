"""The web app process: ``create_app`` is what ``python -m services.web`` serves and what
the tests start. Every dependency is a parameter, so tests pass fakes (a transport to the
APIs, a fake OIDC issuer, a clock)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.web import (
    routes_audit,
    routes_case_actions,
    routes_cases,
    routes_coordinate,
    routes_duplicates,
    routes_emergency,
    routes_handover,
    routes_inbox,
    routes_plan,
    routes_profile,
    routes_signin,
    routes_statistics,
    routes_supervise,
    routes_transfers,
)
from services.web.apis import SERVICES, Apis
from services.web.config import WebSettings
from services.web.errors import ApiProblem, PageError, problem_kind
from services.web.hooks import HOOKS
from services.web.i18n import LANGUAGES, best_language, load_catalogs
from services.web.oidc import Oidc
from services.web.pages import SignInFirst, environment, error_page, redirect
from services.web.security import HEADERS
from services.web.session_pg import PostgresSessionStore, session_key_from
from services.web.sessions import SessionStore
from shared.auth import AuthConfig, SigningKeySource
from shared.logging import configure_logging
from shared.settings import Settings, secret_problems

SESSION_COOKIE = "safepath_session"
LANGUAGE_COOKIE = "safepath_lang"
STATIC = Path(__file__).resolve().parent / "static"
NO_SESSION_PREFIXES = ("/static/", "/healthz", "/readyz")

Clock = Callable[[], datetime]
PAGE_MODULES = (
    routes_signin,
    routes_cases,
    routes_case_actions,
    routes_plan,
    routes_profile,
    routes_emergency,
    routes_inbox,
    routes_handover,
    routes_supervise,
    routes_coordinate,
    routes_statistics,
    routes_duplicates,
    routes_audit,
    routes_transfers,
)


def check_production(settings: Settings) -> None:
    """In production, refuse a missing, weak or published token verifier. The web app
    holds no key of its own (no master key, no reference or audit key: it never seals,
    references or signs anything), so only the token secret is asked of it."""
    if settings.environment == "production":
        problems = [p for p in secret_problems(settings) if p.startswith("SAFEPATH_JWT_SECRET")]
        if problems:
            raise ValueError("; ".join(problems))


def create_app(
    settings: Settings | None = None,
    web: WebSettings | None = None,
    *,
    api_transport: httpx.AsyncBaseTransport | None = None,
    oidc_transport: httpx.AsyncBaseTransport | None = None,
    jwks_client: SigningKeySource | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    settings = settings or Settings()
    web = web or WebSettings()
    check_production(settings)
    configure_logging(settings.log_level, settings.log_format)
    now = clock or (lambda: datetime.now(UTC))
    idle = timedelta(minutes=web.session_idle_minutes)
    session_key = None
    if web.session_store == "postgres":
        session_key = session_key_from(web.session_key)  # refuse to start without it
        if not settings.database_url:
            raise ValueError("SAFEPATH_WEB_SESSION_STORE=postgres needs SAFEPATH_DATABASE_URL")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with (
            httpx.AsyncClient(
                transport=api_transport,
                timeout=web.api_timeout_seconds,
                # Idle connections are dropped well before the services' keep-alive timeout
                # (uvicorn: 5 s): a request never goes out on a connection being closed.
                limits=httpx.Limits(keepalive_expiry=1.0),
            ) as api,
            httpx.AsyncClient(transport=oidc_transport, timeout=10.0) as idp,
        ):
            app.state.apis = Apis({s: web.api_url(settings, s) for s in SERVICES}, api)
            if web.oidc_configured:
                callback = web.base_url(settings) + "/signin/callback"
                app.state.oidc = Oidc(web, callback, idp)
            if session_key is None:
                yield
                return
            pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=5)
            try:
                store = PostgresSessionStore(pool, session_key, idle)
                await store.setup()
                app.state.sessions = store
                yield
            finally:
                await pool.close()

    app = FastAPI(
        title="Safepath web app",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.web = web
    app.state.auth = AuthConfig.from_settings(settings)
    if jwks_client is not None:
        app.state.auth_jwks_client = jwks_client
    app.state.clock = now
    # In memory unless the Postgres store is chosen (set up in ``lifespan``).
    app.state.sessions = SessionStore(idle, web.max_sessions)
    app.state.catalogs = load_catalogs()
    app.state.jinja = environment()
    app.state.dev_sign_in = web.dev_sign_in_enabled(settings)
    app.state.oidc = None
    app.state.hooks = HOOKS

    @app.middleware("http")
    async def sessions_and_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        store: SessionStore | PostgresSessionStore = app.state.sessions
        sid = None
        if not request.url.path.startswith(NO_SESSION_PREFIXES):
            sid = request.cookies.get(SESSION_COOKIE)
            session = await store.get(sid, now())
            if session is None:
                remembered = request.cookies.get(LANGUAGE_COOKIE)
                language = (
                    remembered
                    if remembered in LANGUAGES
                    else best_language(request.headers.get("accept-language"))
                )
                session = await store.new(language, now())
            request.state.session = session
        response = await call_next(request)
        current = getattr(request.state, "session", None)
        if current is not None:
            await store.save(current)  # its time, language, a sign-in under way
        if current is not None and current.id != sid:
            response.set_cookie(
                SESSION_COOKIE,
                current.id,
                httponly=True,
                secure=web.cookie_secure,
                samesite="lax",
                path="/",
            )
        chosen = getattr(request.state, "chosen_language", None)
        if chosen is not None:
            response.set_cookie(
                LANGUAGE_COOKIE,
                chosen,
                max_age=365 * 24 * 3600,
                httponly=True,
                secure=web.cookie_secure,
                samesite="lax",
                path="/",
            )
        for name, value in HEADERS.items():
            if name not in response.headers:  # a route may set a stricter or its own policy
                response.headers[name] = value
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.exception_handler(PageError)
    async def on_page_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageError)
        return error_page(request, exc.status, exc.kind)

    @app.exception_handler(SignInFirst)
    async def on_sign_in_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInFirst)
        return redirect("/signin", next=exc.next_path)

    @app.exception_handler(ApiProblem)
    async def on_api_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiProblem)
        if exc.status == 401:  # the token expired or was revoked: sign in again
            await app.state.sessions.end(request.state.session.id)
            request.state.session = await app.state.sessions.new(
                request.state.session.language, now()
            )
            return redirect("/signin", next=request.url.path)
        status = exc.status if exc.status in (403, 404, 409, 410, 412, 503) else 502
        return error_page(request, status, problem_kind(exc.status))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not hasattr(request.state, "session"):
            return JSONResponse({"status": exc.status_code}, status_code=exc.status_code)
        kind = {404: "not_found", 405: "not_found"}.get(exc.status_code, "invalid")
        return error_page(request, exc.status_code, kind)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> RedirectResponse:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in PAGE_MODULES:
        app.include_router(module.router)
    return app
