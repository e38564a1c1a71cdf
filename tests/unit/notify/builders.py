"""Referral events as the referral service publishes them, and a directory to look up."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from services.notify.domain.recipients import Contact, DirectoryLookup, who_hears_what
from services.notify.domain.referral_facts import (
    Answer,
    ReferralFacts,
    facts_of_answer,
    facts_of_attempt,
)
from shared.events.base import Event
from shared.events.case import ConsentScope
from shared.events.referral import ReferralRouted, ReferralUnroutable, RoutingReasons

CASE_ID = "0190f5c3-7a2b-7c1d-9e8f-0a1b2c3d4e5f"
REFERRAL_ID = "0190f5c3-8b3c-7d2e-8f90-1a2b3c3d4e60"
CASE_KEY = b"test-case-reference-key-32-bytes"

# Identifying values that must never reach a recipient.
SURVIVOR_NAME = "Gulnora Rahimova"
SURVIVOR_PHONE = "+992 93 555 12 34"
SURVIVOR_BIRTH_DATE = "2001-03-14"
PLANTED = (SURVIVOR_NAME, SURVIVOR_PHONE, SURVIVOR_BIRTH_DATE, "Rahimova", "555 12 34")


def _attempt(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "referral_id": REFERRAL_ID,
        "case_id": CASE_ID,
        "request_id": "0190f5c3-8b3c-7d2e-8f90-1a2b3c3d4e61",
        "need": "shelter",
        "urgency": "urgent",
        "attempt": 1,
        "categories": ["trafficking"],
        "region": "sughd",
        "district": "buston",
        "sex": "female",
        "age_band": "18-24",
        "language": "tg",
        "disability": False,
        "reasons": RoutingReasons(
            matched=["category"],
            proximity="district",
            language_match=True,
            consent_basis="service_type",
            passed_over=[],
            excluded=[],
            not_offering=0,
            summary="district match; speaks tg",
        ),
        "consent": ConsentScope(
            consent_id="c-1",
            service_types=["shelter"],
            provider_ids=[],
            data_categories=["needs", "demographics"],
            expires_at=None,
        ),
        "emergency_without_consent": False,
    }
    fields.update(overrides)
    return fields


def routed(**overrides: Any) -> ReferralRouted:
    fields = {
        "provider_id": "women-and-society-shelter-buston",
        "respond_by": datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
        **overrides,
    }
    return ReferralRouted(**_attempt(**fields))


def unroutable(**overrides: Any) -> ReferralUnroutable:
    return ReferralUnroutable(**_attempt(**{"coordinator_id": "imcctip-secretariat", **overrides}))


def facts(**overrides: Any) -> ReferralFacts:
    """The facts of ``routed()``, with any value (even one no event schema allows)."""
    return replace(facts_of_attempt(routed()), **overrides)


def with_planted_identity(event: ReferralRouted) -> ReferralRouted:
    """The same event with identifying data in its one free-text field."""
    reasons = event.reasons.model_copy(
        update={"summary": f"{SURVIVOR_NAME} ({SURVIVOR_BIRTH_DATE}) called from {SURVIVOR_PHONE}"}
    )
    return event.model_copy(update={"reasons": reasons})


def hear(event: Event, lookup: DirectoryLookup, attempt: ReferralFacts | None = None) -> list[Any]:
    """What ``who_hears_what`` plans for ``event``, its facts read as queueing reads them:
    an attempt's own, or an answer's on top of the last ``attempt`` (``routed()``'s)."""
    if isinstance(event, ReferralRouted | ReferralUnroutable):
        known = facts_of_attempt(event)
    elif isinstance(event, Answer):
        known = facts_of_answer(event, attempt or facts_of_attempt(routed()))
    else:
        known = attempt or facts_of_attempt(routed())
    return who_hears_what(event, known, lookup)


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
