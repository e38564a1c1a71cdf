"""Referral requests: routing fields from the profile, shared only under covering consent."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.case.domain.commands import RequestReferral
from services.case.domain.errors import (
    CaseClosedError,
    ConsentNotFound,
    ConsentRequired,
    EmergencyReasonRequired,
    ProfileRequired,
    ReferralAlreadyRequested,
)
from shared.events.base import Event
from shared.events.case import (
    NO_CONSENT,
    CaseClosed,
    CaseReopened,
    CaseTransferred,
    ConsentScope,
    ConsentWithdrawn,
    ReferralRequested,
)
from shared.events.vocabulary import ServiceType, Urgency

from .builders import LATER, NOW, consent_given, given, opened, profiled, sealed, when

REFERRAL_ID = "0f8e6b1e-3f1c-4a53-9a55-6a4f3b0d2c11"
BASE: list[Event] = [opened(), profiled(), consent_given()]


def request(
    needs: list[ServiceType] | None = None, urgency: Urgency = "routine", **extra: object
) -> RequestReferral:
    return RequestReferral(
        referral_id=REFERRAL_ID,
        needs=needs or ["shelter", "legal_aid"],
        urgency=urgency,
        **extra,
    )


def only(events: list[Event]) -> ReferralRequested:
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, ReferralRequested)
    return event


def test_a_covered_referral_carries_the_routing_fields_of_the_profile_and_the_consent() -> None:
    note = sealed("prefers a female doctor")
    history: list[Event] = [
        opened(),
        profiled(
            region="khatlon",
            district="bokhtar",
            categories=["trafficking", "refugee_asylum"],
            sex="female",
            age_band="12-17",
            language="ru",
            disability=True,
            disability_kind="hearing",
        ),
        consent_given(expires_at=LATER),
    ]

    event = only(when(history, request(["shelter", "medical"], "urgent", note=note)))

    assert event == ReferralRequested(
        referral_id=REFERRAL_ID,
        needs=["shelter", "medical"],
        urgency="urgent",
        categories=["trafficking", "refugee_asylum"],
        region="khatlon",
        district="bokhtar",
        sex="female",
        age_band="12-17",
        language="ru",
        disability=True,
        consent=ConsentScope(
            consent_id="consent-1",
            service_types=["shelter", "medical", "legal_aid"],
            provider_ids=[],
            data_categories=["needs", "demographics"],
            expires_at=LATER,
        ),
        emergency_without_consent=False,
        emergency_reason=None,
        note=note,
        office="khujand-nrm",
        caseworker="cw-dilnoza",
    )


def test_the_referral_names_the_caseworker_now_responsible() -> None:
    transferred = CaseTransferred(
        from_caseworker="cw-dilnoza",
        to_caseworker="cw-farrukh",
        from_office="khujand-nrm",
        to_office="bokhtar-nrm",
    )

    event = only(when([*BASE, transferred], request()))

    assert (event.caseworker, event.office) == ("cw-farrukh", "bokhtar-nrm")


def test_the_requested_referral_is_remembered() -> None:
    events = when(BASE, request())

    case = given(*BASE, *events)
    assert case is not None
    referral = case.referral(REFERRAL_ID)
    assert referral is not None
    assert (referral.needs, referral.consent_id) == (("shelter", "legal_aid"), "consent-1")


def test_a_referral_id_is_used_once() -> None:
    with pytest.raises(ReferralAlreadyRequested):
        when([*BASE, *when(BASE, request())], request())


def test_a_referral_needs_a_recorded_profile() -> None:
    with pytest.raises(ProfileRequired):
        when([opened(), consent_given()], request())


def test_a_closed_case_takes_no_referral() -> None:
    with pytest.raises(CaseClosedError):
        when([*BASE, CaseClosed(reason="services_completed")], request())


def test_a_reopened_case_takes_referrals_again() -> None:
    history = [*BASE, CaseClosed(reason="lost_contact"), CaseReopened(reason="new_needs")]

    assert only(when(history, request())).referral_id == REFERRAL_ID


def test_without_any_consent_a_routine_referral_is_refused() -> None:
    with pytest.raises(ConsentRequired, match="no active consent"):
        when([opened(), profiled()], request())


def test_a_consent_must_cover_every_need() -> None:
    with pytest.raises(ConsentRequired, match="psychosocial"):
        when(BASE, request(["shelter", "psychosocial"]))


def test_a_withdrawn_consent_stops_future_sharing() -> None:
    history = [*BASE, ConsentWithdrawn(consent_id="consent-1")]

    with pytest.raises(ConsentRequired):
        when(history, request())
    with pytest.raises(ConsentRequired, match="withdrawn"):
        when(history, request(consent_id="consent-1"))


def test_an_expired_consent_does_not_cover() -> None:
    history = [opened(), profiled(), consent_given(expires_at=NOW + timedelta(days=30))]

    assert only(when(history, request(), now=NOW)).consent.consent_id == "consent-1"
    with pytest.raises(ConsentRequired, match="expired"):
        when(history, request(consent_id="consent-1"), now=NOW + timedelta(days=30))


def test_a_consent_for_another_purpose_does_not_cover_a_referral() -> None:
    with pytest.raises(ConsentRequired):
        when([opened(), profiled(), consent_given(purpose="statistics")], request())


def test_a_consent_must_let_us_share_needs_and_demographics() -> None:
    history = [opened(), profiled(), consent_given(data_categories=["needs"])]

    with pytest.raises(ConsentRequired):
        when(history, request())


def test_a_consent_for_named_providers_covers_any_need_and_carries_them() -> None:
    history = [
        opened(),
        profiled(),
        consent_given(service_types=[], provider_ids=["femida-shelter", "legal-aid-centre-17"]),
    ]

    event = only(when(history, request(["shelter", "psychosocial"])))

    assert event.consent.provider_ids == ["femida-shelter", "legal-aid-centre-17"]
    assert event.consent.service_types == []


def test_without_a_named_consent_the_newest_covering_one_is_used() -> None:
    history: list[Event] = [
        opened(),
        profiled(),
        consent_given("consent-old"),
        consent_given("consent-new", service_types=["shelter", "legal_aid"]),
        consent_given("consent-narrow", service_types=["medical"]),
    ]

    assert only(when(history, request())).consent.consent_id == "consent-new"


def test_a_named_consent_is_the_one_shared_under() -> None:
    history = [*BASE, consent_given("consent-2", service_types=["shelter", "legal_aid"])]

    assert only(when(history, request(consent_id="consent-1"))).consent.consent_id == "consent-1"


def test_a_named_consent_must_exist() -> None:
    with pytest.raises(ConsentNotFound):
        when(BASE, request(consent_id="consent-9"))


def test_an_emergency_with_a_recorded_reason_proceeds_without_consent() -> None:
    reason = sealed("bleeding, found at the border post at night")

    event = only(
        when(
            [opened(), profiled()],
            request(["medical_emergency"], "emergency", emergency_reason=reason),
        )
    )

    assert event.emergency_without_consent is True
    assert event.consent == NO_CONSENT
    assert event.emergency_reason == reason


def test_an_emergency_without_a_reason_is_refused() -> None:
    with pytest.raises(EmergencyReasonRequired) as raised:
        when([opened(), profiled()], request(["medical_emergency"], "emergency"))
    assert isinstance(raised.value, ConsentRequired)


def test_an_emergency_covered_by_consent_is_not_flagged() -> None:
    event = only(when(BASE, request(["shelter"], "emergency")))

    assert event.emergency_without_consent is False
    assert event.consent.consent_id == "consent-1"


def test_an_emergency_past_a_withdrawn_consent_is_flagged_as_without_consent() -> None:
    history = [*BASE, ConsentWithdrawn(consent_id="consent-1")]

    event = only(when(history, request(["shelter"], "emergency", emergency_reason=sealed("r"))))

    assert event.emergency_without_consent is True
    assert event.consent.consent_id is None


@pytest.mark.parametrize(
    "bad",
    [
        {"referral_id": "not-a-uuid"},
        {"needs": []},
        {"needs": ["shelter", "shelter"]},
        {"needs": ["massage"]},
        {"urgency": "asap"},
    ],
)
def test_malformed_requests_cannot_be_constructed(bad: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "referral_id": REFERRAL_ID,
        "needs": ["shelter"],
        "urgency": "urgent",
    }
    fields.update(bad)
    with pytest.raises(ValidationError):
        RequestReferral(**fields)


def test_referral_ids_are_canonical_uuids_so_consumers_derive_the_same_per_need_ids() -> None:
    command = RequestReferral(referral_id=REFERRAL_ID.upper(), needs=["shelter"], urgency="urgent")

    event = only(when(BASE, command))

    assert event.referral_id == REFERRAL_ID
    assert uuid.uuid5(uuid.UUID(event.referral_id), "shelter") == uuid.uuid5(
        uuid.UUID(REFERRAL_ID), "shelter"
    )


def test_the_event_refuses_an_unflagged_referral_without_consent() -> None:
    data = only(when(BASE, request())).model_dump()
    data["consent"] = NO_CONSENT.model_dump()

    with pytest.raises(ValidationError, match="emergency"):
        ReferralRequested(**data)


def test_the_event_refuses_a_flagged_referral_that_is_not_an_emergency() -> None:
    data = only(when(BASE, request())).model_dump()
    data.update(emergency_without_consent=True, consent=NO_CONSENT.model_dump())
    data["emergency_reason"] = sealed("r").model_dump()

    with pytest.raises(ValidationError, match="emergency"):
        ReferralRequested(**data)


def test_named_providers_widen_a_consent_by_type_to_other_needs() -> None:
    history = [opened(), profiled(), consent_given(provider_ids=["femida-shelter"])]

    event = only(when(history, request(["shelter", "psychosocial"])))

    assert event.consent.service_types == ["shelter", "medical", "legal_aid"]
    assert event.consent.provider_ids == ["femida-shelter"]
