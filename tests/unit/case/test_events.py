"""The case events as others see them: registered types, round trips, the referral contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from shared.events import registry
from shared.events.base import Event
from shared.events.case import (
    CASE_EVENTS,
    CaseAccessed,
    CaseClosed,
    CaseNoteAdded,
    CaseReopened,
    CaseTransferred,
    ConsentGiven,
    ConsentScope,
    ConsentWithdrawn,
    IdentificationRecorded,
    IdentityErased,
    NeedsAssessed,
    ReferralRequested,
    SurvivorProfileUpdated,
)

from .builders import consent_given, opened, profile, profiled, sealed

SAMPLES: list[Event] = [
    opened(),
    profiled(),
    SurvivorProfileUpdated(profile=profile(age_band="25-39")),
    NeedsAssessed(needs=["shelter"], note=sealed("n")),
    IdentificationRecorded(status="presumed", basis="indicators_present", deciding_agency="ngo"),
    consent_given(expires_at=datetime(2026, 1, 1, tzinfo=UTC)),
    ConsentWithdrawn(consent_id="consent-1", reason_code="survivor_request"),
    ReferralRequested(
        referral_id="0f8e6b1e-3f1c-4a53-9a55-6a4f3b0d2c11",
        needs=["medical_emergency"],
        urgency="emergency",
        categories=["mine_eo"],
        region="gbao",
        district="khorog",
        sex="male",
        age_band="5-11",
        language="other",
        disability=True,
        consent=ConsentScope(
            consent_id=None, service_types=[], provider_ids=[], data_categories=[], expires_at=None
        ),
        emergency_without_consent=True,
        emergency_reason=sealed("r"),
        note=None,
        office=None,
        caseworker="cw-1",
    ),
    CaseNoteAdded(note_id="n1", note=sealed("n")),
    CaseClosed(reason="services_completed"),
    CaseReopened(reason="new_needs"),
    CaseTransferred(from_caseworker="a", to_caseworker="b", from_office=None, to_office="o"),
    IdentityErased(erased_by="sup-1", reason_code="legal_order"),
    CaseAccessed(who="cw-1", role="caseworker", fields=["profile"], endpoint="GET /cases/{id}"),
]


def test_every_case_event_is_registered_under_the_case_service() -> None:
    assert {type(e) for e in SAMPLES} == set(CASE_EVENTS)
    for cls in CASE_EVENTS:
        assert cls.type_name() == f"org.safepath.case.{cls.__name__}.v{cls.version}"
        assert registry.model_for(cls.type_name()) is cls


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_case_event_survives_a_trip_through_json_and_the_registry(event: Event) -> None:
    data = json.loads(json.dumps(event.model_dump(mode="json")))

    assert registry.load(type(event).type_name(), data) == event


def test_referral_requested_has_exactly_the_contracted_fields() -> None:
    assert list(ReferralRequested.model_fields) == [
        "referral_id",
        "needs",
        "urgency",
        "categories",
        "region",
        "district",
        "sex",
        "age_band",
        "language",
        "interpreter_needed",
        "disability",
        "consent",
        "emergency_without_consent",
        "emergency_reason",
        "note",
        "office",
        "caseworker",
        "follows_up",
    ]
    assert list(ConsentScope.model_fields) == [
        "consent_id",
        "service_types",
        "provider_ids",
        "data_categories",
        "expires_at",
    ]


def test_events_refuse_unknown_fields() -> None:
    with pytest.raises(ValidationError):
        CaseClosed(reason="duplicate", comment="she moved to Russia")  # type: ignore[call-arg]


def test_a_consent_without_recipients_cannot_be_an_event() -> None:
    with pytest.raises(ValidationError, match="recipient"):
        ConsentGiven(
            consent_id="c",
            purpose="referral",
            service_types=[],
            provider_ids=[],
            data_categories=["needs"],
        )


@pytest.mark.parametrize(
    "bad",
    [
        {"fields": []},
        {"fields": ["Given Name"]},
        {"role": "Case Worker"},
        {"endpoint": "GET /cases/1\n"},
    ],
)
def test_access_records_name_fields_never_values(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "who": "cw-1",
        "role": "caseworker",
        "fields": ["profile"],
        "endpoint": "GET /cases/{id}",
    }
    fields.update(bad)
    with pytest.raises(ValidationError):
        CaseAccessed(**fields)


def test_subjects_and_offices_are_bounded() -> None:
    with pytest.raises(ValidationError):
        opened(caseworker="x" * 201)
    with pytest.raises(ValidationError):
        opened(office="")
