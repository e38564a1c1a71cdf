"""Errors the pages show, and the services' problem+json answers in the reader's language.

An API's 422 names the offending fields (``body.profile.sex``); the form fields of the
web app are named by the same paths without ``body.``, so each message lands at its field.
Messages are chosen by the error's ``type`` (stable across languages), never by its English
text, and never echo the value that was entered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Gettext = Callable[[str], str]


class PageError(Exception):
    """An error page: ``kind`` picks the message (``csrf``, ``not_found``, ``forbidden``,
    ``unavailable``, ``dev_only``)."""

    def __init__(self, status: int, kind: str) -> None:
        self.status = status
        self.kind = kind
        super().__init__(f"{status} {kind}")


class ApiProblem(Exception):
    """A service answered with a problem (or could not be reached: status 503)."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status} {body.get('title', '')}")


def page_message(kind: str, _: Gettext) -> str:
    messages = {
        "csrf": _("This form has expired or did not come from this site. Please try again."),
        "not_found": _("There is nothing here, or you may not see it."),
        "forbidden": _("Your role may not do this."),
        "unavailable": _("A Safepath service does not answer. Please try again in a minute."),
        "dev_only": _("The development sign-in is switched off here."),
        "conflict": _("Someone changed this meanwhile. Reload the page and try again."),
        "invalid": _("The request was not accepted."),
        "signin_failed": _("Signing in did not work. Please try again."),
    }
    return messages.get(kind, messages["invalid"])


def problem_kind(status: int) -> str:
    return {
        403: "forbidden",
        404: "not_found",
        410: "not_found",  # e.g. a referral withdrawn since the page was shown
        409: "conflict",
        412: "conflict",
        503: "unavailable",
    }.get(status, "invalid")


def field_message(error_type: str, _: Gettext) -> str:
    """The message for one pydantic error ``type``, in the reader's language."""
    if error_type == "missing":
        return _("Please fill this in.")
    if error_type in ("enum", "literal_error"):
        return _("Please choose one of the options.")
    if error_type in ("string_too_long", "too_long"):
        return _("This is too long.")
    if error_type in ("string_too_short", "too_short"):
        return _("Please fill this in.")
    if error_type in ("int_parsing", "int_type", "int_from_float"):
        return _("Please enter a whole number.")
    if error_type in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return _("This number is out of range.")
    if error_type.startswith("date") or error_type.startswith("datetime"):
        return _("Please enter a date as YYYY-MM-DD.")
    if error_type == "string_pattern_mismatch":
        return _("This is not in the expected form.")
    return _("This value is not valid.")


@dataclass
class FieldErrors:
    """Messages per form field (``profile.sex``), and those that name no field."""

    by_field: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.by_field or self.general)

    def get(self, name: str) -> list[str]:
        return self.by_field.get(name, [])


def form_field(path: str) -> str | None:
    """``body.profile.categories.0`` → ``profile.categories``; ``None`` for no field."""
    parts = path.split(".")
    if parts and parts[0] == "body":
        parts = parts[1:]
    while parts and parts[-1].isdigit():
        parts.pop()
    return ".".join(parts) or None


def field_errors(problem: ApiProblem, _: Gettext) -> FieldErrors:
    out = FieldErrors()
    for err in problem.body.get("errors") or []:
        name = form_field(str(err.get("path", "")))
        text = field_message(str(err.get("type", "")), _)
        if name is None:
            out.general.append(text)
        elif text not in out.by_field.setdefault(name, []):
            out.by_field[name].append(text)
    if not out:
        out.general.append(page_message(problem_kind(problem.status), _))
    return out
