"""Withdrawal reaches every provider: told to delete, confirmations, reminder, escalation.

Given a referral's events, when a withdrawal (consent withdrawn, case closed, identity
erased), a provider's confirmation or the deletion timer, then these events.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.referral.domain.commands import (
    AcceptReferral,
    ChaseDataDeletion,
    CompleteService,
    ConfirmDataDeleted,
    DeclineReferral,
    EscalateReferral,
    StartService,
    WithdrawReferral,
)
from services.referral.domain.decide import decide
from services.referral.domain.errors import InvalidTransition, NotAssignedProvider
from services.referral.domain.evolve import replay
from shared.events.base import Event
from shared.events.referral import (
    DataDeletionConfirmed,
    DataDeletionEscalated,
    DataDeletionReminded,
    DataDeletionRequested,
    ReferralWithdrawn,
)

from .builders import NOW
from .test_lifecycle import OPEN, REFERRAL_ID, SHELTERS, history, when

CONFIRM = timedelta(days=3)
ESCALATE = timedelta(days=2)
WITHDRAW = WithdrawReferral(REFERRAL_ID, "consent_withdrawn", confirm_within=CONFIRM)
CHASE = ChaseDataDeletion(REFERRAL_ID, escalate_within=ESCALATE)


def declined_then_silent_then_accepted() -> list[Event]:
    """a-khujand declined, b-sughd never answered, c-national accepted."""
    events = history(
        (OPEN, timedelta(0)),
        (DeclineReferral(REFERRAL_ID, "a-khujand", "no_capacity"), timedelta(0)),
        (EscalateReferral(REFERRAL_ID), timedelta(days=2)),
    )
    return events + when(events, AcceptReferral(REFERRAL_ID, "c-national"), timedelta(days=2))


def withdrawn(events: list[Event]) -> list[Event]:
    return events + when(events, WITHDRAW)


def test_every_provider_that_received_it_is_told_to_delete_not_only_the_holder() -> None:
    events = declined_then_silent_then_accepted()

    withdrawal, request = when(events, WITHDRAW)

    assert isinstance(withdrawal, ReferralWithdrawn) and withdrawal.provider_id == "c-national"
    assert isinstance(request, DataDeletionRequested)
    assert request.provider_ids == ["a-khujand", "b-sughd", "c-national"]
    assert (request.cause, request.confirm_by) == ("consent_withdrawn", NOW + CONFIRM)


def test_a_completed_referral_stays_completed_but_its_provider_must_delete() -> None:
    events = history(
        (OPEN, timedelta(0)),
        (AcceptReferral(REFERRAL_ID, "a-khujand"), timedelta(0)),
        (StartService(REFERRAL_ID, "a-khujand"), timedelta(0)),
        (CompleteService(REFERRAL_ID, "a-khujand"), timedelta(0)),
    )

    [request] = when(events, WithdrawReferral(REFERRAL_ID, "identity_erased"))

    assert isinstance(request, DataDeletionRequested)
    assert (request.provider_ids, request.cause) == (["a-khujand"], "identity_erased")


def test_a_second_withdrawal_for_another_cause_tells_nobody_again() -> None:
    events = withdrawn(history((OPEN, timedelta(0))))

    assert when(events, WithdrawReferral(REFERRAL_ID, "case_closed")) == []


def test_a_referral_no_provider_ever_received_is_withdrawn_with_nobody_to_tell() -> None:
    only_far = SHELTERS.__class__(coordinators=SHELTERS.coordinators)  # no provider at all
    events = when([], OPEN, directory=only_far)

    [withdrawal] = when(events, WITHDRAW, directory=only_far)

    assert isinstance(withdrawal, ReferralWithdrawn) and withdrawal.provider_id is None


def test_each_provider_confirms_once_and_only_a_recipient_may() -> None:
    events = withdrawn(declined_then_silent_then_accepted())

    [confirmed] = when(events, ConfirmDataDeleted(REFERRAL_ID, "a-khujand"))
    events.append(confirmed)

    assert isinstance(confirmed, DataDeletionConfirmed) and confirmed.provider_id == "a-khujand"
    assert when(events, ConfirmDataDeleted(REFERRAL_ID, "a-khujand")) == []
    with pytest.raises(NotAssignedProvider):
        when(events, ConfirmDataDeleted(REFERRAL_ID, "never-received-it"))
    state = replay(events)
    assert state is not None and state.deletion is not None
    assert state.deletion.pending == {"b-sughd", "c-national"}


def test_confirming_before_any_withdrawal_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        when(history((OPEN, timedelta(0))), ConfirmDataDeleted(REFERRAL_ID, "a-khujand"))


def test_the_silent_are_reminded_at_the_deadline_then_escalated_once() -> None:
    events = withdrawn(declined_then_silent_then_accepted())
    events += when(events, ConfirmDataDeleted(REFERRAL_ID, "a-khujand"))

    assert when(events, CHASE, CONFIRM - timedelta(seconds=1)) == []  # not yet due
    [reminded] = when(events, CHASE, CONFIRM)
    events.append(reminded)
    assert isinstance(reminded, DataDeletionReminded)
    assert reminded.provider_ids == ["b-sughd", "c-national"]
    assert reminded.escalate_by == NOW + CONFIRM + ESCALATE
    assert when(events, CHASE, CONFIRM + timedelta(hours=1)) == []  # reminded once

    events += when(events, ConfirmDataDeleted(REFERRAL_ID, "b-sughd"))
    [escalated] = when(events, CHASE, CONFIRM + ESCALATE)
    events.append(escalated)

    assert isinstance(escalated, DataDeletionEscalated)
    assert escalated.provider_ids == ["c-national"]
    assert escalated.coordinator_id == "coordinator-trafficking"
    assert when(events, CHASE, CONFIRM + ESCALATE * 5) == []  # escalated once
    state = replay(events)
    assert state is not None and state.deletion is not None and state.deletion.next_due is None


def test_nothing_is_chased_once_every_provider_confirmed() -> None:
    events = withdrawn(history((OPEN, timedelta(0))))
    events += when(events, ConfirmDataDeleted(REFERRAL_ID, "a-khujand"))

    assert when(events, CHASE, CONFIRM * 10) == []


def test_the_timer_on_a_referral_never_withdrawn_decides_nothing() -> None:
    assert decide(replay(history((OPEN, timedelta(0)))), CHASE, NOW + CONFIRM, SHELTERS) == []
