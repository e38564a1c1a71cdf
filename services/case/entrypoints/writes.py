"""The case service's side of the write contract (the rest is ``shared.http_writes``).

A route's work runs once per Idempotency-Key in the transaction that holds the key row;
failures become problems: a stale ``If-Match`` → 412, a concurrent writer that won → 409
(both with the current version), a refused command → 409 with the domain error's code
(404 for an unknown case or one out of scope), invalid input → 422, a reused key with
another body → 422.
"""

from __future__ import annotations

from typing import Annotated

from services.case.app.handling import CaseNotVisible, OutOfScope
from services.case.domain.errors import CaseNotFound, DomainError
from shared.http_writes import IdempotencyKey, if_match_header
from shared.problems import ProblemError, forbidden, not_found

IfMatch = Annotated[
    str | None,
    if_match_header(
        'The case version the change is based on (the `ETag`, e.g. `"3"`). '
        "Stale: 412 with `current_version`."
    ),
]

ETAG_HEADER = {
    "ETag": {"description": "The case's new version, quoted.", "schema": {"type": "string"}}
}
LOCATION_HEADER = {
    "Location": {"description": "URL of the new case.", "schema": {"type": "string"}}
}
CONFLICT = "Another change to this case was saved first; reload it."
__all__ = ["CONFLICT", "ETAG_HEADER", "LOCATION_HEADER", "IdempotencyKey", "IfMatch", "problem_of"]


def problem_of(e: Exception) -> Exception | None:
    """The case's own errors as problems; None for the ones every service shares."""
    match e:
        case CaseNotVisible() | CaseNotFound():
            return not_found("No such case.")
        case OutOfScope():
            return forbidden("You may not open a case outside your office or region.")
        case DomainError():
            return ProblemError(409, "Conflict", e.message, type_suffix=e.code)
        case _:
            return None
