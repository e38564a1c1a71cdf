"""Story helpers for the case domain tests: given events, when a command, then events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from services.case.domain import Case, decide, fold
from services.case.domain.commands import CaseCommand
from shared.events.base import Event, Sealed
from shared.events.case import CaseOpened, ConsentGiven, SurvivorProfile, SurvivorProfileRecorded

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=40)
CASE_KEY_ID = "case-key-1"


def sealed(secret: str) -> Sealed:
    """Stand-in ciphertext (the domain never opens it; tests only check it travels sealed)."""
    ct = base64.b64encode(b"\x00\x01" + secret[::-1].encode()).decode()
    return Sealed(kid=CASE_KEY_ID, nonce="AAAAAAAAAAAAAAAA", ct=ct)


def profile(**overrides: Any) -> SurvivorProfile:
    fields: dict[str, Any] = {
        "identifying": sealed("Gulnora Rahimova, born 2001-03-04, +992 900 000 000"),
        "age_band": "18-24",
        "sex": "female",
        "disability": False,
        "nationality": "TJ",
        "citizenship_status": "citizen",
        "language": "tg",
        "region": "sughd",
        "district": "khujand",
        "categories": ["trafficking"],
    }
    fields.update(overrides)
    return SurvivorProfile(**fields)


def opened(**overrides: Any) -> CaseOpened:
    fields: dict[str, Any] = {
        "caseworker": "cw-dilnoza",
        "office": "khujand-nrm",
        "region": "sughd",
        "categories": ["trafficking"],
    }
    fields.update(overrides)
    return CaseOpened(**fields)


def profiled(**overrides: Any) -> SurvivorProfileRecorded:
    return SurvivorProfileRecorded(profile=profile(**overrides))


def consent_given(consent_id: str = "consent-1", **overrides: Any) -> ConsentGiven:
    fields: dict[str, Any] = {
        "consent_id": consent_id,
        "purpose": "referral",
        "service_types": ["shelter", "medical", "legal_aid"],
        "provider_ids": [],
        "data_categories": ["needs", "demographics"],
        "expires_at": None,
    }
    fields.update(overrides)
    return ConsentGiven(**fields)


def given(*events: Event) -> Case | None:
    return fold(events)


def when(history: list[Event], command: CaseCommand, now: datetime = NOW) -> list[Event]:
    return decide(fold(history), command, now)
