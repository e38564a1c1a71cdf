"""RFC 9457 problem details (``application/problem+json``) for every FastAPI service.

One error contract for the whole API: bad input gets a 422 naming the offending field
paths and changes nothing; 401/403 for authentication/authorisation; 404 for what the
caller may not know exists; 409/412 for version conflicts, with the current version.

Error bodies never echo what the client sent: submitted values can be identifying
(names, birth dates), so validation errors carry a path, a message and a type only,
and a 500 carries nothing about its cause. Usage::

    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/cases/{case_id}", responses=PROBLEM_RESPONSES)
    async def get_case(case_id: str) -> CaseView:
        raise not_found()
"""

from __future__ import annotations

import http
import traceback
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A tag URI (RFC 4151): RFC 9457 allows type URIs that do not resolve.
PROBLEM_TYPE_BASE = "tag:safepath.org,2025:problems/"

# Only inputs at least this long are scrubbed from messages, so a one-letter value does
# not mangle pydantic's own words ("Input should be a valid ...").
_MIN_SCRUB_LEN = 3


class ProblemFieldError(BaseModel):
    """One invalid field: where it is and what is wrong, never the submitted value."""

    path: str = Field(examples=["body.profile.date_of_birth"])
    message: str = Field(examples=["Input should be a valid date"])
    type: str = Field(examples=["date_from_datetime_parsing"])


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_TYPE_BASE + "not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "No such resource.",
                }
            ]
        }
    )

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[ProblemFieldError] | None = None
    current_version: int | None = None


class ProblemError(Exception):
    """Raise from a route or dependency to answer with a problem+json response."""

    def __init__(
        self,
        status: int,
        title: str | None = None,
        detail: str | None = None,
        *,
        type_suffix: str | None = None,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status = status
        self.title = title or _phrase(status)
        self.detail = detail
        self.type = PROBLEM_TYPE_BASE + type_suffix if type_suffix else "about:blank"
        self.extra: dict[str, Any] = dict(extra or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(f"{status} {self.title}")

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail is not None:
            body["detail"] = self.detail
        if instance is not None:
            body["instance"] = instance
        body.update(self.extra)
        return body


def not_found(detail: str = "No such resource.") -> ProblemError:
    return ProblemError(404, detail=detail, type_suffix="not-found")


def conflict(current_version: int, detail: str = "The resource has changed.") -> ProblemError:
    return ProblemError(
        409, detail=detail, type_suffix="conflict", extra={"current_version": current_version}
    )


def precondition_failed(
    current_version: int, detail: str = "If-Match does not match the current version."
) -> ProblemError:
    return ProblemError(
        412,
        detail=detail,
        type_suffix="precondition-failed",
        extra={"current_version": current_version},
    )


def forbidden(detail: str = "Your role may not do this.") -> ProblemError:
    return ProblemError(403, detail=detail, type_suffix="forbidden")


def unauthorized(
    detail: str = "A valid bearer token is required.", *, invalid_token: bool = False
) -> ProblemError:
    """401 with the ``WWW-Authenticate: Bearer`` challenge (RFC 6750)."""
    challenge = 'Bearer error="invalid_token"' if invalid_token else "Bearer"
    return ProblemError(
        401, detail=detail, type_suffix="unauthorized", headers={"WWW-Authenticate": challenge}
    )


def unprocessable(detail: str, errors: Sequence[ProblemFieldError] = ()) -> ProblemError:
    """422 for input that is well-formed but breaks a rule (paths in ``errors`` if any)."""
    extra = {"errors": [e.model_dump() for e in errors]} if errors else None
    return ProblemError(422, detail=detail, type_suffix="invalid-input", extra=extra)


def problem_response(
    body: Mapping[str, Any], status: int, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        dict(body), status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE
    )


def field_errors(errors: Sequence[Any]) -> list[dict[str, str]]:
    """Pydantic/FastAPI error dicts as ``{path, message, type}``, dropping input and ctx."""
    out: list[dict[str, str]] = []
    for err in errors:
        loc = err.get("loc", ())
        message = str(err.get("msg", "Invalid value"))
        value = err.get("input")
        if isinstance(value, str) and len(value) >= _MIN_SCRUB_LEN and value in message:
            message = message.replace(value, "<redacted>")
        out.append(
            {
                "path": ".".join(str(part) for part in loc),
                "message": message,
                "type": str(err.get("type", "value_error")),
            }
        )
    return out


def _phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(exc.to_problem(), exc.status, exc.headers)


async def _on_validation(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    body = {
        "type": PROBLEM_TYPE_BASE + "invalid-input",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "The request is invalid; nothing was changed.",
        "errors": field_errors(exc.errors()),
    }
    return problem_response(body, 422)


async def _on_http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _phrase(exc.status_code),
        "status": exc.status_code,
    }
    if isinstance(exc.detail, str) and exc.detail != body["title"]:
        body["detail"] = exc.detail
    return problem_response(body, exc.status_code, exc.headers)


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class CatchAllMiddleware:
    """Turns any unhandled exception into a generic 500 problem, logged without its message.

    Starlette's own catch-all re-raises so the server logs the traceback, message and
    all; an exception message can quote data (a database error names the duplicate
    value), so this one logs the exception type and where it was raised, and stops it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            # A fresh logger each time: a cached one would escape ``capture_logs`` in tests.
            structlog.stdlib.get_logger("safepath.problems").error(
                "unhandled_exception",
                exc_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
                where=_where(exc),
                method=scope.get("method"),
                route=_route_template(scope),
            )
            if started:
                return  # Too late for a 500; the server closes the connection.
            body = {
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "An unexpected error occurred.",
            }
            await problem_response(body, 500)(scope, receive, send)


def _where(exc: BaseException) -> list[str]:
    """The innermost frames as ``file:line in function``: code locations, no values."""
    frames = traceback.extract_tb(exc.__traceback__)[-5:]
    return [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}" for f in frames]


def _route_template(scope: Scope) -> str | None:
    # The template (``/cases/{case_id}``), never the concrete path with its ids.
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else None


def install_problem_handlers(app: FastAPI) -> None:
    """Answer every error of ``app`` with problem+json and make OpenAPI say so.

    Call once while building the app (it adds a middleware, which Starlette only allows
    before the app starts).
    """
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_middleware(CatchAllMiddleware)
    _document_problems(app)


# -- OpenAPI ----------------------------------------------------------------------------

_REF = "#/components/schemas/"


def _problem_content() -> dict[str, Any]:
    return {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": _REF + "Problem"}}}


_DESCRIPTIONS = {
    400: "The request is malformed.",
    401: "Missing, malformed or expired bearer token.",
    403: "The token's role or scope does not allow this.",
    404: "No such resource (or one the caller may not know exists).",
    409: "The resource changed meanwhile; `current_version` says where it is now.",
    410: "The resource was withdrawn: nothing of it is served any more.",
    412: "`If-Match` does not match; `current_version` says where it is now.",
    422: "Invalid input, with the offending field paths in `errors`; nothing was changed.",
    428: "This write needs an `If-Match` header.",
    503: "A dependency (database, message bus) is unavailable; retry later.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A ``responses=`` dict documenting the given statuses as problem+json.

    Known statuses: 400, 401, 403, 404, 409, 412, 422, 428, 503.
    """
    return {s: {"description": _DESCRIPTIONS[s], "content": _problem_content()} for s in statuses}


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(401, 403, 404, 409, 412, 422)


def _document_problems(app: FastAPI) -> None:
    """Add the Problem schemas to components and replace FastAPI's default 422 schema.

    FastAPI documents ``responses={..: {"model": M}}`` under ``application/json``; our
    errors are ``application/problem+json``, so the responses refer to the schema by
    ``$ref`` and this hook puts it in ``components``.
    """
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = generate()
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        problem = Problem.model_json_schema(ref_template=_REF + "{model}")
        for name, definition in problem.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas.setdefault("Problem", problem)
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                _fix_default_422(operation)
        if not _uses_default_422(schema):
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _fix_default_422(operation: Any) -> None:
    if not isinstance(operation, dict):
        return
    response = operation.get("responses", {}).get("422")
    if not isinstance(response, dict):
        return
    json_schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if json_schema.get("$ref") == _REF + "HTTPValidationError":
        response["description"] = _DESCRIPTIONS[422]
        response["content"] = _problem_content()


def _uses_default_422(schema: dict[str, Any]) -> bool:
    return (_REF + "HTTPValidationError") in str(schema.get("paths", {}))
