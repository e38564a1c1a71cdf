"""What every service checks before a route sees a request: an ASGI middleware.

In this order, for each HTTP request (``create_service_app`` installs it in all three
services):

1. **Per client address** rate limit (``SAFEPATH_RATE_LIMIT_PER_ADDRESS_PER_MINUTE``),
   so floods and token guessing are throttled before any work is done.
2. **Authentication** of the bearer token for every path but the public ones
   (``/healthz``, ``/readyz``, ``/metrics``, the API docs): a missing or invalid token
   is 401 before one byte of the body is read. The routes' own dependencies still
   decide who may do what (roles, scope); they reuse the principal verified here.
3. **Per principal** (token ``sub`` + ``role``) rate limit
   (``SAFEPATH_RATE_LIMIT_PER_MINUTE``). Over a limit: 429 with ``Retry-After``.
4. **Body size**: a ``Content-Length`` above the route's limit is 413 without reading;
   without one (chunked), bytes are counted as the route reads them and the read is cut
   off with 413 as soon as the limit is passed. The limit is ``SAFEPATH_MAX_BODY_BYTES``
   (64 KiB by default), or a larger one a service names for a route template
   (``create_service_app(body_limits=...)``).

Rate limits are a sliding-window counter in process memory (``SlidingWindow``): one
small counter pair per key (unlike a moving window's entry per request, a flood from
many addresses cannot grow it by its request count), keys of windows that ended swept
once a window; each process counts on its own, so with N replicas a client may get up
to N times the limit. 0 turns a limit off. (The ``limits`` library's memory storage did
the same counting but started a timer thread on nearly every request, seen in the flow
benchmark's profile, docs/performance.md.)
Behind a reverse proxy, run uvicorn with ``--proxy-headers`` and
``--forwarded-allow-ips`` so the client address is the real one.

Every refusal is RFC 9457 problem+json and names no token, subject or address.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from fastapi.security.utils import get_authorization_scheme_param

from shared.auth import AuthError, Principal, authenticate
from shared.problems import ProblemError, problem_response, unauthorized
from shared.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_BODY_BYTES = 64 * 1024
# ``/metrics`` is public for the cluster's Prometheus but still throttled per address (a
# scrape runs queries); keep it off the public ingress (docs/operations.md).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
    }
)
UNTHROTTLED_PATHS = frozenset({"/healthz", "/readyz"})
# Where the principal verified here is left for ``shared.auth.current_principal``.
VERIFIED_STATE_KEY = "verified_bearer"

_MAX_LENGTH_DIGITS = 18


class BodyTooLarge(Exception):
    """The request body passed its limit while the route was reading it."""


def _template_pattern(template: str) -> re.Pattern[str]:
    """``/cases/{case_id}/notes`` -> a pattern matching ``/cases/<one segment>/notes``."""
    parts = re.split(r"(\{[^}/]+\})", template)
    regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}/?$")


@dataclass(frozen=True)
class GuardConfig:
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    per_principal_per_minute: int = 0
    per_address_per_minute: int = 0
    # Route templates allowed a larger body than ``max_body_bytes`` (bytes).
    body_limits: Mapping[str, int] = field(default_factory=dict)
    public_paths: frozenset[str] = PUBLIC_PATHS
    unthrottled_paths: frozenset[str] = UNTHROTTLED_PATHS

    @classmethod
    def from_settings(
        cls, settings: Settings, body_limits: Mapping[str, int] | None = None
    ) -> GuardConfig:
        return cls(
            max_body_bytes=settings.max_body_bytes,
            per_principal_per_minute=settings.rate_limit_per_minute,
            per_address_per_minute=settings.rate_limit_per_address_per_minute,
            body_limits=dict(body_limits or {}),
        )


class SlidingWindow:
    """At most ``limit`` hits per key in any ``window`` seconds, approximately: the
    sliding-window counter (hits in the current fixed window, plus the previous window's
    hits weighted by how much of it the sliding window still covers). Two integers per
    key; keys whose windows have both ended are dropped once per window. No threads, no
    tasks: a hit is a dict lookup and some arithmetic. ``clock`` is for tests."""

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._counts: dict[tuple[str, ...], tuple[int, int, int]] = {}  # (index, prev, cur)
        self._swept = -1

    def hit(self, key: tuple[str, ...]) -> int | None:
        """Count a hit and return None, or refuse it (not counted) with the seconds to
        wait before one would pass, at least 1 and at most one window."""
        now = self.clock()
        index = int(now // self.window)
        if index != self._swept:
            self._swept = index
            self._counts = {k: v for k, v in self._counts.items() if v[0] >= index - 1}
        at, prev, cur = self._counts.get(key, (index, 0, 0))
        if at != index:  # the window rolled: the current count becomes the previous one
            prev, cur = (cur if at == index - 1 else 0), 0
        elapsed = now - index * self.window
        if prev * (self.window - elapsed) / self.window + cur + 1 <= self.limit:
            self._counts[key] = (index, prev, cur + 1)
            return None
        self._counts[key] = (index, prev, cur)
        wait = math.ceil(self._wait(prev, cur, elapsed) - 1e-9)  # 40.000000001 is 40
        return max(1, min(wait, math.ceil(self.window)))

    def _wait(self, prev: int, cur: int, elapsed: float) -> float:
        """Seconds until the weighted count leaves room for one more hit."""
        w, room = self.window, self.limit - 1
        if cur <= room and prev > 0:  # the previous window's weight has to fall far enough
            return w * (1 - (room - cur) / prev) - elapsed
        # Only in the next window: the current count becomes the previous one there.
        return (w - elapsed) + (w * (1 - room / cur) if cur > 0 else 0.0)


class RateLimits:
    """Per-principal and per-address counters of one process."""

    def __init__(self, per_principal: int, per_address: int) -> None:
        self._principal = SlidingWindow(per_principal) if per_principal > 0 else None
        self._address = SlidingWindow(per_address) if per_address > 0 else None

    def address(self, address: str) -> int | None:
        """Seconds to wait when ``address`` is over its limit, else ``None`` (counted)."""
        return None if self._address is None else self._address.hit((address,))

    def principal(self, principal: Principal) -> int | None:
        if self._principal is None:
            return None
        return self._principal.hit((principal.role, principal.sub))


def too_large(limit: int) -> ProblemError:
    return ProblemError(
        413,
        detail=f"The request body may be at most {limit} bytes; nothing was read or changed.",
        type_suffix="too-large",
    )


def too_many_requests(retry_after: int) -> ProblemError:
    return ProblemError(
        429,
        detail=f"Too many requests; try again in {retry_after} s.",
        type_suffix="rate-limited",
        headers={"Retry-After": str(retry_after)},
    )


def bad_length() -> ProblemError:
    return ProblemError(400, detail="Content-Length is not a number.", type_suffix="bad-request")


class RequestGuard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: ASGIApp, config: GuardConfig) -> None:
        self.app = app
        self.config = config
        self.limits = RateLimits(config.per_principal_per_minute, config.per_address_per_minute)
        self._routes = [
            (_template_pattern(t), max(n, config.max_body_bytes))
            for t, n in config.body_limits.items()
        ]

    def body_limit(self, path: str) -> int:
        for pattern, limit in self._routes:
            if pattern.match(path):
                return limit
        return self.config.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        headers = _headers(scope)
        throttled = path not in self.config.unthrottled_paths

        if throttled:
            client = scope.get("client")
            retry = self.limits.address(str(client[0]) if client else "unknown")
            if retry is not None:
                await _refuse(too_many_requests(retry), headers, scope, receive, send)
                return

        if path not in self.config.public_paths:
            scheme, token = get_authorization_scheme_param(headers.get("authorization"))
            if scheme.lower() != "bearer" or not token:
                await _refuse(unauthorized(), headers, scope, receive, send)
                return
            try:
                principal = await authenticate(token, scope["app"].state)
            except AuthError as e:
                await _refuse(
                    unauthorized(str(e), invalid_token=True), headers, scope, receive, send
                )
                return
            scope.setdefault("state", {})[VERIFIED_STATE_KEY] = (token, principal)
            if throttled:
                retry = self.limits.principal(principal)
                if retry is not None:
                    await _refuse(too_many_requests(retry), headers, scope, receive, send)
                    return

        limit = self.body_limit(path)
        declared = headers.get("content-length")
        if declared is not None:
            value = declared.strip()
            if not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
                await _refuse(bad_length(), headers, scope, receive, send)
                return
            if int(value) > limit:
                await _refuse(too_large(limit), headers, scope, receive, send)
                return
        await self._counted(scope, receive, send, limit, headers)

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, limit: int, headers: dict[str, str]
    ) -> None:
        """Run the app, cutting its body reads off with 413 past ``limit`` bytes."""
        received = 0
        started = False
        refused = False

        async def counting_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    if not started and not refused:
                        refused = True
                        await _refuse(too_large(limit), headers, scope, receive, send)
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the route's own answer to the aborted read is not sent
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            if not refused:
                raise


def _headers(scope: Scope) -> dict[str, str]:
    """Request headers, lower-cased names; the first of repeated ones."""
    out: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        out.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
    return out


async def _refuse(
    problem: ProblemError, headers: dict[str, str], scope: Scope, receive: Receive, send: Send
) -> None:
    extra = dict(problem.headers)
    if headers.get("content-length", "0").strip() != "0" or "transfer-encoding" in headers:
        # The unread body stays on the connection: close it after this answer.
        extra["Connection"] = "close"
    await problem_response(problem.to_problem(), problem.status, extra)(scope, receive, send)
