"""NRM identification: presumed first, then a conclusive decision either way."""

from __future__ import annotations

import pytest

from services.case.domain.commands import RecordIdentification
from services.case.domain.errors import InvalidTransition
from shared.events.base import Event
from shared.events.case import (
    CaseClosed,
    CaseReopened,
    IdentificationRecorded,
    IdentificationStatus,
)

from .builders import given, opened, sealed, when


def decision(status: IdentificationStatus) -> IdentificationRecorded:
    basis = "indicators_present" if status == "presumed" else "conclusive_decision"
    agency = "border_guard" if status == "presumed" else "imcctip"
    return IdentificationRecorded(status=status, basis=basis, deciding_agency=agency)


def record(status: IdentificationStatus) -> RecordIdentification:
    basis = "indicators_present" if status == "presumed" else "conclusive_decision"
    agency = "border_guard" if status == "presumed" else "imcctip"
    return RecordIdentification(status=status, basis=basis, deciding_agency=agency)


def test_a_first_line_actor_records_a_presumed_victim() -> None:
    note = sealed("indicators: passport withheld by employer")
    command = RecordIdentification(
        status="presumed", basis="indicators_present", deciding_agency="ngo", note=note
    )

    events = when([opened()], command)

    assert events[0] == IdentificationRecorded(
        status="presumed", basis="indicators_present", deciding_agency="ngo", note=note
    )
    assert [e.name() for e in events[1:]] == ["ReflectionPeriodStarted"]  # test_reflection.py
    case = given(opened(), *events)
    assert case is not None and case.identification == "presumed"


@pytest.mark.parametrize("conclusion", ["identified", "not_identified"])
def test_a_presumption_ends_in_a_conclusive_decision(conclusion: IdentificationStatus) -> None:
    events = when([opened(), decision("presumed")], record(conclusion))

    assert events == [decision(conclusion)]


def test_a_competent_authority_may_decide_without_a_prior_presumption() -> None:
    assert when([opened()], record("identified")) == [decision("identified")]


@pytest.mark.parametrize(
    ("before", "after"), [("identified", "not_identified"), ("not_identified", "identified")]
)
def test_a_review_may_reverse_a_conclusive_decision(
    before: IdentificationStatus, after: IdentificationStatus
) -> None:
    assert when([opened(), decision(before)], record(after)) == [decision(after)]


@pytest.mark.parametrize("conclusion", ["identified", "not_identified"])
def test_a_conclusive_decision_does_not_go_back_to_presumed(
    conclusion: IdentificationStatus,
) -> None:
    with pytest.raises(InvalidTransition, match="reopened"):
        when([opened(), decision("presumed"), decision(conclusion)], record("presumed"))


def test_after_a_reopening_a_new_presumption_may_be_recorded() -> None:
    history: list[Event] = [
        opened(),
        decision("not_identified"),
        CaseClosed(reason="not_eligible"),
        CaseReopened(reason="revictimised"),
    ]

    assert when(history, record("presumed"))[0] == decision("presumed")


def test_the_reopening_allows_one_new_presumption_not_a_loop() -> None:
    history: list[Event] = [
        opened(),
        decision("identified"),
        CaseClosed(reason="services_completed"),
        CaseReopened(reason="revictimised"),
        decision("presumed"),
        decision("identified"),
    ]

    with pytest.raises(InvalidTransition):
        when(history, record("presumed"))


@pytest.mark.parametrize("status", ["presumed", "identified", "not_identified"])
def test_recording_the_same_status_again_is_refused(status: IdentificationStatus) -> None:
    with pytest.raises(InvalidTransition, match="already"):
        when([opened(), decision(status)], record(status))
