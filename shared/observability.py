"""What ``create_service_app`` adds for operators: ``/metrics``, request metrics, a server
span per request, and tracing set up from the settings (``shared/metrics.py``,
``shared/tracing.py``; ``docs/operations.md``)."""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, cast

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared import metrics, tracing
from shared.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# FastAPI's own OpenTelemetry instrumentation would start with any SDK provider: a second
# server span per request, with the raw path (ids) as ``url.path``. Ours is the one.
FASTAPI_TELEMETRY: TelemetryConfig = {
    "tracing": False,
    "metrics": False,
    "logs": False,
    "operation_spans": False,
    "auto_configure": False,
}


def install_observability(app: FastAPI, service: str, settings: Settings) -> None:
    """``/metrics``, the request middleware (outermost: it times the guard's refusals
    too) and, when an OTLP endpoint is configured, the trace exporter."""
    tracing.configure_tracing(service, settings)
    app.include_router(metrics.router)
    app.add_middleware(RequestObservability, service=service)


def route_template(scope: Scope) -> str:
    """The route template of a request (``/cases/{case_id}``), never its raw path: the
    route the router chose, else (a request refused before routing, e.g. by the guard)
    the documented route its path fits, else ``unmatched``."""
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    raw = str(scope.get("path", ""))
    root = str(scope.get("root_path", ""))
    if root and raw.startswith(root):
        raw = raw[len(root) :]
    for pattern, template in _templates(scope.get("app")):
        if pattern.match(raw):
            return template
    return "unmatched"


def _templates(app: Any) -> list[tuple[re.Pattern[str], str]]:
    """The app's documented path templates, most specific first (``/cases/export``
    before ``/cases/{case_id}``); built once per app."""
    state = getattr(app, "state", None)
    cached = getattr(state, "route_templates", None)
    if cached is not None:
        return cast(list[tuple[re.Pattern[str], str]], cached)
    try:
        paths = list(app.openapi().get("paths", {}))
    except Exception:
        return []
    found = [(_pattern(t), t) for t in sorted(paths, key=lambda t: (t.count("{"), -len(t)))]
    if state is not None:
        state.route_templates = found
    return found


def _pattern(template: str) -> re.Pattern[str]:
    """``/cases/{case_id}/notes`` -> matches ``/cases/<one segment>/notes``."""
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


class RequestObservability:
    """ASGI middleware: a server span (child of an incoming ``traceparent``), and
    ``safepath_http_requests_total`` / ``safepath_http_request_duration_seconds`` by route
    template and status."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = metrics.method_label(str(scope.get("method", "")))
        status = 500
        started = time.perf_counter()

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1")
            for k, v in scope.get("headers", ())
            if k.lower() in (b"traceparent", b"tracestate")
        }
        with tracing.tracer(self.service).start_as_current_span(
            f"{method} request",
            context=tracing.context_from(headers),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method, "safepath.service": self.service},
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                await self.app(scope, receive, observed_send)
            except BaseException:
                status = 500
                raise
            finally:
                route = metrics.label(route_template(scope), fallback="unmatched")
                elapsed = time.perf_counter() - started
                metrics.HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
                metrics.HTTP_DURATION.labels(self.service, method, route).observe(elapsed)
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(Status(StatusCode.ERROR))
