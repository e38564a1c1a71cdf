"""Informed consent: given for a purpose, recipients and data; withdrawn at any time."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from services.case.domain.commands import GiveConsent, WithdrawConsent
from services.case.domain.errors import (
    ConsentAlreadyExists,
    ConsentAlreadyWithdrawn,
    ConsentNotFound,
    InvalidConsent,
)
from shared.events.case import CaseClosed, ConsentGiven, ConsentWithdrawn

from .builders import LATER, NOW, consent_given, given, opened, when


def test_consent_is_recorded_with_its_scope() -> None:
    command = GiveConsent(
        consent_id="consent-1",
        purpose="referral",
        service_types=["shelter"],
        provider_ids=["femida-shelter"],
        data_categories=["needs", "demographics"],
        given_by="parent_or_guardian",
        expires_at=LATER,
    )

    events = when([opened()], command)

    assert events == [
        ConsentGiven(
            consent_id="consent-1",
            purpose="referral",
            service_types=["shelter"],
            provider_ids=["femida-shelter"],
            data_categories=["needs", "demographics"],
            given_by="parent_or_guardian",
            expires_at=LATER,
        )
    ]
    case = given(opened(), *events)
    assert case is not None
    consent = case.consent("consent-1")
    assert consent is not None and consent.is_active(NOW)
    assert not consent.is_active(LATER)


def test_a_consent_id_is_used_once() -> None:
    command = GiveConsent(
        consent_id="consent-1",
        purpose="referral",
        service_types=["medical"],
        data_categories=["needs"],
    )

    with pytest.raises(ConsentAlreadyExists):
        when([opened(), consent_given("consent-1")], command)


def test_a_consent_that_has_already_expired_is_refused() -> None:
    command = GiveConsent(
        consent_id="consent-1",
        purpose="referral",
        service_types=["medical"],
        data_categories=["needs"],
        expires_at=NOW,
    )

    with pytest.raises(InvalidConsent, match="expired"):
        when([opened()], command)


def test_a_consent_names_its_recipients() -> None:
    command = GiveConsent(consent_id="consent-1", purpose="referral", data_categories=["needs"])

    with pytest.raises(InvalidConsent, match="recipient"):
        when([opened()], command)


def test_a_consent_names_the_data_it_lets_us_share() -> None:
    command = GiveConsent(
        consent_id="consent-1", purpose="referral", service_types=["medical"], data_categories=[]
    )

    with pytest.raises(InvalidConsent, match="data categories"):
        when([opened()], command)


def test_consent_scope_values_come_from_the_vocabulary() -> None:
    with pytest.raises(ValidationError):
        GiveConsent(
            consent_id="c",
            purpose="marketing",
            service_types=["shelter"],
            data_categories=["needs"],
        )
    with pytest.raises(ValidationError):
        GiveConsent(
            consent_id="c", purpose="referral", service_types=["spa"], data_categories=["needs"]
        )
    with pytest.raises(ValidationError):
        GiveConsent(
            consent_id="c",
            purpose="referral",
            service_types=["shelter"],
            data_categories=["needs"],
            expires_at=NOW.replace(tzinfo=None),
        )


def test_withdrawing_a_consent_marks_it_withdrawn() -> None:
    events = when([opened(), consent_given()], WithdrawConsent(consent_id="consent-1"))

    assert events == [ConsentWithdrawn(consent_id="consent-1", reason_code=None)]
    case = given(opened(), consent_given(), *events)
    assert case is not None
    consent = case.consent("consent-1")
    assert consent is not None and consent.withdrawn and not consent.is_active(NOW)


def test_withdrawal_reasons_are_codes_not_free_text() -> None:
    with pytest.raises(ValidationError):
        WithdrawConsent(consent_id="consent-1", reason_code="She told me her brother threatened")


def test_an_unknown_consent_cannot_be_withdrawn() -> None:
    with pytest.raises(ConsentNotFound):
        when([opened(), consent_given()], WithdrawConsent(consent_id="consent-2"))


def test_a_consent_is_withdrawn_once() -> None:
    history = [opened(), consent_given(), ConsentWithdrawn(consent_id="consent-1")]

    with pytest.raises(ConsentAlreadyWithdrawn):
        when(history, WithdrawConsent(consent_id="consent-1"))


def test_a_closed_case_still_honours_a_withdrawal() -> None:
    history = [opened(), consent_given(), CaseClosed(reason="services_completed")]

    events = when(history, WithdrawConsent(consent_id="consent-1", reason_code="survivor_request"))

    assert events == [ConsentWithdrawn(consent_id="consent-1", reason_code="survivor_request")]


def test_an_expired_consent_can_still_be_withdrawn() -> None:
    history = [opened(), consent_given(expires_at=NOW + timedelta(days=1))]

    events = when(history, WithdrawConsent(consent_id="consent-1"), now=LATER)

    assert events == [ConsentWithdrawn(consent_id="consent-1")]
