"""Referral event data as the referral service publishes it, and a directory to look up."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from services.notify.domain.recipients import Contact

CASE_ID = "0190f5c3-7a2b-7c1d-9e8f-0a1b2c3d4e5f"
REFERRAL_ID = "0190f5c3-8b3c-7d2e-8f90-1a2b3c3d4e60"
CASE_KEY = b"test-case-reference-key-32-bytes"

# Identifying values that must never reach a recipient.
SURVIVOR_NAME = "Gulnora Rahimova"
SURVIVOR_PHONE = "+992 93 555 12 34"
SURVIVOR_BIRTH_DATE = "2001-03-14"
PLANTED = (SURVIVOR_NAME, SURVIVOR_PHONE, SURVIVOR_BIRTH_DATE, "Rahimova", "555 12 34")


def routed(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "referral_id": REFERRAL_ID,
        "case_id": CASE_ID,
        "request_id": "0190f5c3-8b3c-7d2e-8f90-1a2b3c3d4e61",
        "need": "shelter",
        "urgency": "urgent",
        "attempt": 1,
        "provider_id": "women-and-society-shelter-buston",
        "categories": ["trafficking"],
        "region": "sughd",
        "district": "buston",
        "sex": "female",
        "age_band": "18-24",
        "language": "tg",
        "disability": False,
        "reasons": {"summary": "district match; speaks tg", "matched": ["category"]},
        "consent": {"consent_id": "c-1", "service_types": ["shelter"]},
        "respond_by": "2026-11-23T10:00:00Z",
    }
    data.update(overrides)
    return data


def with_planted_identity(data: dict[str, Any]) -> dict[str, Any]:
    """The same event with identifying data in places an allow-list must ignore."""
    return {
        **data,
        "name": SURVIVOR_NAME,
        "phone": SURVIVOR_PHONE,
        "date_of_birth": SURVIVOR_BIRTH_DATE,
        "reasons": {"summary": f"{SURVIVOR_NAME} called from {SURVIVOR_PHONE}"},
        "facts": {"given_name": "Gulnora", "family_name": "Rahimova", "dob": SURVIVOR_BIRTH_DATE},
        "profile": {"contact": SURVIVOR_PHONE, "narrative": f"born {SURVIVOR_BIRTH_DATE}"},
    }


@dataclass
class FakeDirectory:
    providers: dict[str, Contact] = field(default_factory=dict)
    coordinators: dict[str, Contact] = field(default_factory=dict)
    caseworkers: dict[str, Contact] = field(default_factory=dict)

    def provider(self, provider_id: str) -> Contact | None:
        return self.providers.get(provider_id)

    def coordinator(self, category: str) -> Contact | None:
        return self.coordinators.get(category)

    def caseworker(self, case_id: str) -> Contact | None:
        return self.caseworkers.get(case_id)


def directory() -> FakeDirectory:
    return FakeDirectory(
        providers={
            "women-and-society-shelter-buston": Contact(
                "women-and-society-shelter-buston", "tg", has_webhook=True
            ),
            "femida-shelter-dushanbe": Contact("femida-shelter-dushanbe", "ru"),
        },
        coordinators={
            "trafficking": Contact("imcctip-secretariat", "ru"),
            "mine_eo": Contact("nmac", "en"),
            "refugee_asylum": Contact("migration-service", "tg"),
        },
        caseworkers={CASE_ID: Contact("cw-dushanbe-07", "en")},
    )
