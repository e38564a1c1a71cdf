"""Builds a service's FastAPI application: lifespan, correlation ids, errors, health."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol, TypeVar

import structlog
from fastapi import APIRouter, FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.audit_api import StreamVisible, audit_router, unscoped_only
from shared.guard import GuardConfig, RequestGuard
from shared.health import router as health_router
from shared.ids import uuid7
from shared.logging import configure_logging, get_logger
from shared.observability import FASTAPI_TELEMETRY, install_observability, route_template
from shared.runtime import Runtime, start_runtime, stop_runtime
from shared.settings import Settings
from shared.tracing import log_fields

log = get_logger("safepath.http")

CORRELATION_HEADER = "X-Correlation-Id"

S = TypeVar("S")


class StartRuntime(Protocol):
    """How the lifespan gets its pool, NATS, store and relay: ``start_runtime``, or a
    stand-in a test passes to a service's ``bootstrap``."""

    def __call__(
        self,
        service: str,
        settings: Settings,
        *,
        migrations: Sequence[Path] = (),
        wire: Callable[[Runtime], None] | None = None,
    ) -> Awaitable[Runtime]: ...


def create_service_app(
    service: str,
    *,
    title: str,
    description: str,
    wire: Callable[[Runtime], S],
    settings: Settings | None = None,
    migrations: Sequence[Path] = (),
    routers: Sequence[APIRouter] = (),
    on_started: Callable[[Runtime, S], Awaitable[None]] | None = None,
    audit_scope: StreamVisible = unscoped_only,
    body_limits: Mapping[str, int] | None = None,
    start: StartRuntime = start_runtime,
) -> FastAPI:
    """The service's app. At start-up ``wire(runtime)`` builds the service's parts (its
    typed container, subscribing its consumers on the way); routes get them through
    ``service_dependency``, ``on_started(runtime, parts)`` runs once the runtime is up.
    ``audit_scope`` decides who may verify one stream with
    ``GET /audit/verify?case=`` (by default only callers without a region scope).
    ``body_limits``: route templates (``/cases/{case_id}/profile``) that accept a body
    larger than ``SAFEPATH_MAX_BODY_BYTES``, in bytes (see ``shared/guard.py``)."""
    settings = settings or Settings()
    configure_logging(settings.log_level, settings.log_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        def wired(rt: Runtime) -> None:
            app.state.service = wire(rt)

        rt = await start(service, settings, migrations=migrations, wire=wired)
        app.state.runtime = rt
        if on_started is not None:
            await on_started(rt, app.state.service)
        try:
            yield
        finally:
            await stop_runtime(rt)

    app = FastAPI(
        title=title,
        description=description,
        version="0.1.0",
        lifespan=lifespan,
        telemetry=FASTAPI_TELEMETRY,
    )
    app.state.settings = settings
    _install_auth_and_problems(app, settings)
    # Inside the correlation middleware (its answers get a correlation id and a log line),
    # outside everything that reads a body: authenticate, throttle and size-check first.
    app.add_middleware(RequestGuard, config=GuardConfig.from_settings(settings, body_limits))

    app.add_middleware(Correlation, service=service)

    # Outermost: /metrics, request metrics and the request's span (shared/observability.py).
    install_observability(app, service, settings)

    app.include_router(health_router)
    app.include_router(audit_router(audit_scope))
    for r in routers:
        app.include_router(r)
    return app


class Correlation:
    """ASGI middleware: every request gets a correlation id (the caller's
    ``X-Correlation-ID``, or a new one) bound to its log lines and echoed in the answer,
    and one canonical log line when it is done. Plain ASGI rather than
    ``@app.middleware("http")``, which runs each request in a task of its own."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service
        self.header = CORRELATION_HEADER.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        structlog.contextvars.clear_contextvars()
        given = next((v for k, v in scope.get("headers", ()) if k.lower() == self.header), None)
        cid = (given.decode("latin-1") if given else str(uuid7()))[:100]
        structlog.contextvars.bind_contextvars(
            correlation_id=cid, service=self.service, **log_fields()
        )
        scope.setdefault("state", {})["correlation_id"] = cid  # request.state.correlation_id
        status = 500

        async def answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = MutableHeaders(scope=message)
                headers[CORRELATION_HEADER] = cid
            await send(message)

        await self.app(scope, receive, answer)
        # One canonical line per request; paths carry ids only, never personal data.
        log.info(
            "request",
            method=scope.get("method"),
            route=route_template(scope),
            status=status,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )


def service_dependency(kind: type[S]) -> Callable[[Request], Awaitable[S]]:
    """A FastAPI dependency for the parts ``wire`` built, checked to be a ``kind``:
    ``Parts = Annotated[CaseParts, Depends(service_dependency(CaseParts))]``.

    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in its
    thread pool, a thread hand-off per request (seen in the flow benchmark's profile)."""

    async def parts(request: Request) -> S:
        found = getattr(request.app.state, "service", None)
        if not isinstance(found, kind):
            raise RuntimeError(f"{kind.__name__} is not wired (the app has not started)")
        return found

    return parts


def _install_auth_and_problems(app: FastAPI, settings: Settings) -> None:
    from shared.auth import AuthConfig
    from shared.problems import install_problem_handlers

    app.state.auth = AuthConfig.from_settings(settings)
    install_problem_handlers(app)
