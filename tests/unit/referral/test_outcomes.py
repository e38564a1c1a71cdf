"""Service outcomes: the provider says how the service ended; the caseworker confirms and
the referral loop is closed."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.referral.domain.commands import (
    AcceptReferral,
    CompleteService,
    ConfirmOutcome,
    RecordOutcome,
    StartService,
)
from services.referral.domain.errors import (
    InvalidTransition,
    NotAssignedProvider,
    OutcomeReasonRequired,
)
from services.referral.domain.evolve import replay
from shared.events.base import Event
from shared.events.referral import OutcomeConfirmed, ServiceOutcomeRecorded

from .test_lifecycle import OPEN, REFERRAL_ID, history, when

ZERO = timedelta(0)


def in_service() -> list[Event]:
    return history(
        (OPEN, ZERO),
        (AcceptReferral(REFERRAL_ID, "a-khujand"), ZERO),
        (StartService(REFERRAL_ID, "a-khujand"), ZERO),
    )


def test_a_partly_delivered_service_needs_a_reason_and_completes_the_referral() -> None:
    events = in_service()
    with pytest.raises(OutcomeReasonRequired):
        when(events, RecordOutcome(REFERRAL_ID, "a-khujand", "partly_delivered"))

    [recorded] = when(
        events, RecordOutcome(REFERRAL_ID, "a-khujand", "partly_delivered", "person_moved")
    )

    assert isinstance(recorded, ServiceOutcomeRecorded)
    state = replay([*events, recorded])
    assert state is not None and (state.status, state.outcome, state.outcome_reason) == (
        "completed",
        "partly_delivered",
        "person_moved",
    )


def test_only_the_holder_records_an_outcome_once() -> None:
    events = in_service()
    with pytest.raises(NotAssignedProvider):
        when(events, RecordOutcome(REFERRAL_ID, "b-sughd", "delivered"))
    events += when(events, RecordOutcome(REFERRAL_ID, "a-khujand", "delivered"))
    with pytest.raises(InvalidTransition):
        when(events, RecordOutcome(REFERRAL_ID, "a-khujand", "delivered"))


def test_a_completed_referral_can_still_get_its_outcome_but_not_before_acceptance() -> None:
    done = in_service()
    done += when(done, CompleteService(REFERRAL_ID, "a-khujand"))
    [recorded] = when(done, RecordOutcome(REFERRAL_ID, "a-khujand", "delivered"))
    assert isinstance(recorded, ServiceOutcomeRecorded)
    with pytest.raises(InvalidTransition):
        when(history((OPEN, ZERO)), RecordOutcome(REFERRAL_ID, "a-khujand", "delivered"))


def test_the_caseworker_confirms_once_and_the_loop_is_closed() -> None:
    events = in_service()
    with pytest.raises(InvalidTransition):  # nothing to confirm yet
        when(events, ConfirmOutcome(REFERRAL_ID, "caseworker-1"))
    events += when(
        events, RecordOutcome(REFERRAL_ID, "a-khujand", "not_delivered", "person_declined")
    )

    [confirmed] = when(events, ConfirmOutcome(REFERRAL_ID, "caseworker-1"))
    events.append(confirmed)

    assert isinstance(confirmed, OutcomeConfirmed) and confirmed.confirmed_by == "caseworker-1"
    state = replay(events)
    assert state is not None and state.outcome_confirmed
    with pytest.raises(InvalidTransition):
        when(events, ConfirmOutcome(REFERRAL_ID, "caseworker-1"))
