"""From the posted HTML forms to the APIs' JSON bodies.

The web app does not validate what the APIs validate: it passes what was typed (empty
fields left out, so the API says "missing"), and the API's problem+json decides. Form
field names are the API's field paths, so the errors land where they belong."""

from __future__ import annotations

import re
from typing import Any

from starlette.datastructures import FormData

PROFILE_TEXT = (
    "given_name",
    "family_name",
    "date_of_birth",
    "estimated_age_years",
    "contact_arrangement",
    "address",
    "narrative",
    "sex",
    "disability_kind",
    "nationality",
    "citizenship_status",
    "language",
    "language_label",
    "district",
)
# The intake form asks once for what the API takes twice (case and profile).
ALIASES = {"profile.region": "region", "profile.categories": "categories"}


def text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def form_key(form: FormData) -> str | None:
    """The form's own key (``form_id``, fresh on every rendering), for Idempotency-Key."""
    value = text(form, "form_id")
    return value if value and re.fullmatch(r"[A-Za-z0-9_-]{16,64}", value) else None


def many(form: FormData, name: str) -> list[str]:
    return [v for v in form.getlist(name) if isinstance(v, str) and v]


def _put(body: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != []:
        body[key] = value


def intake_body(form: FormData) -> dict[str, Any]:
    profile: dict[str, Any] = {}
    for name in PROFILE_TEXT:
        _put(profile, name, text(form, f"profile.{name}"))
    profile["disability"] = form.get("profile.disability") == "on"
    profile["interpreter_needed"] = form.get("profile.interpreter_needed") == "on"
    documents = text(form, "profile.document_numbers") or ""
    _put(profile, "document_numbers", [d.strip() for d in documents.splitlines() if d.strip()])
    body: dict[str, Any] = {}
    _put(body, "region", text(form, "region"))
    _put(body, "categories", many(form, "categories"))
    _put(profile, "region", body.get("region"))
    _put(profile, "categories", body.get("categories"))
    body["profile"] = profile
    return body


def consent_body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {}
    _put(body, "purpose", text(form, "purpose"))
    _put(body, "service_types", many(form, "service_types"))
    _put(body, "data_categories", many(form, "data_categories"))
    _put(body, "given_by", text(form, "given_by"))
    expires = text(form, "expires_at")
    if expires is not None:  # a date: the end of that day in Dushanbe (UTC+5)
        body["expires_at"] = f"{expires}T23:59:59+05:00" if len(expires) == 10 else expires
    return body


def needs_body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {}
    _put(body, "needs", many(form, "needs"))
    _put(body, "note", text(form, "note"))
    return body


def referral_body(form: FormData) -> dict[str, Any]:
    body: dict[str, Any] = {}
    _put(body, "needs", many(form, "needs"))
    _put(body, "urgency", text(form, "urgency"))
    _put(body, "consent_id", text(form, "consent_id"))
    _put(body, "emergency_reason", text(form, "emergency_reason"))
    _put(body, "note", text(form, "note"))
    return body


class Values:
    """What was entered, to fill a form again next to its errors."""

    def __init__(self, form: FormData | None = None, /, **defaults: str | list[str]) -> None:
        self._values: dict[str, list[str]] = {
            k: [v] if isinstance(v, str) else list(v) for k, v in defaults.items()
        }
        if form is not None:
            self._values = {k: [v for v in form.getlist(k) if isinstance(v, str)] for k in form}

    def one(self, name: str) -> str:
        values = self._values.get(name)
        return values[0] if values else ""

    def has(self, name: str, value: str) -> bool:
        return value in self._values.get(name, [])
