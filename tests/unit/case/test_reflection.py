"""The recovery and reflection period: starts with a presumption, reminds the caseworker
before it ends, is extended with a reason, ends (elapsed or by a conclusive decision);
not_identified during it needs a reason and a supervisor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.case.domain.commands import CloseCase, RecordIdentification
from services.case.domain.errors import CaseClosedError, InvalidTransition
from services.case.domain.reflection import (
    ChaseReflectionPeriod,
    ExtendReflectionPeriod,
    ReasonAndSupervisorRequired,
)
from shared.events.base import Event
from shared.events.case_reflection import (
    ReflectionPeriodEnded,
    ReflectionPeriodExtended,
    ReflectionPeriodReminderDue,
    ReflectionPeriodStarted,
)

from .builders import NOW, given, opened, when

PRESUMED = RecordIdentification(
    status="presumed", basis="indicators_present", deciding_agency="ngo", reflection_days=45
)
TICK = ChaseReflectionPeriod(reminder_days=(7, 1))
DAY = timedelta(days=1)


def presumed() -> list[Event]:
    history: list[Event] = [opened()]
    return history + when(history, PRESUMED)


def conclusive(status: str, **extra: object) -> RecordIdentification:
    return RecordIdentification(
        status=status, basis="conclusive_decision", deciding_agency="imcctip", **extra
    )  # type: ignore[arg-type]


def test_a_presumption_starts_a_period_of_the_configured_length() -> None:
    started = presumed()[-1]

    assert started == ReflectionPeriodStarted(started_at=NOW, ends_at=NOW + 45 * DAY, days=45)
    case = given(*presumed())
    assert case is not None and case.reflection is not None
    assert case.reflection.days_left(NOW + 10 * DAY + timedelta(hours=1)) == 35


def test_the_caseworker_is_reminded_seven_days_and_one_day_before_the_end_once_each() -> None:
    history = presumed()
    assert when(history, TICK, NOW + 37 * DAY) == []  # eight days left: nothing yet

    [seven] = when(history, TICK, NOW + 38 * DAY)
    history.append(seven)
    assert seven == ReflectionPeriodReminderDue(ends_at=NOW + 45 * DAY, days_before=7)
    assert when(history, TICK, NOW + 39 * DAY) == []  # already reminded

    [one] = when(history, TICK, NOW + 44 * DAY)
    history.append(one)
    assert isinstance(one, ReflectionPeriodReminderDue) and one.days_before == 1
    assert when(history, TICK, NOW + 44 * DAY + timedelta(hours=2)) == []


def test_a_timer_that_was_down_reminds_once_with_the_nearest_setting() -> None:
    [late] = when(presumed(), TICK, NOW + 44 * DAY + timedelta(hours=1))

    assert isinstance(late, ReflectionPeriodReminderDue) and late.days_before == 1


def test_the_period_ends_when_its_time_is_over_and_nothing_follows() -> None:
    history = presumed()
    [ended] = when(history, TICK, NOW + 45 * DAY)
    history.append(ended)

    assert ended == ReflectionPeriodEnded(outcome="elapsed")
    assert when(history, TICK, NOW + 50 * DAY) == []
    with pytest.raises(InvalidTransition):
        when(history, ExtendReflectionPeriod(days=10, reason_code="other", extended_by="sv"))


def test_an_extension_moves_the_end_and_the_reminders_come_again() -> None:
    history = presumed()
    history += when(history, TICK, NOW + 38 * DAY)  # seven days before the old end
    extend = ExtendReflectionPeriod(
        days=14, reason_code="medical_treatment", extended_by="caseworker-1"
    )

    [extended] = when(history, extend, NOW + 40 * DAY)
    history.append(extended)

    assert extended == ReflectionPeriodExtended(
        ends_at=NOW + 59 * DAY,
        added_days=14,
        reason_code="medical_treatment",
        extended_by="caseworker-1",
    )
    assert when(history, TICK, NOW + 45 * DAY) == []  # the old end means nothing now
    [again] = when(history, TICK, NOW + 52 * DAY)
    assert isinstance(again, ReflectionPeriodReminderDue) and again.ends_at == NOW + 59 * DAY


def test_not_identified_during_the_period_needs_a_reason_and_a_supervisor() -> None:
    history = presumed()

    with pytest.raises(ReasonAndSupervisorRequired):
        when(history, conclusive("not_identified"))
    with pytest.raises(ReasonAndSupervisorRequired):
        when(history, conclusive("not_identified", reason_code="other"))
    with pytest.raises(ReasonAndSupervisorRequired):
        when(history, conclusive("not_identified", supervisor="supervisor-1"))
    events = when(
        history,
        conclusive(
            "not_identified", reason_code="indicators_not_confirmed", supervisor="supervisor-1"
        ),
        NOW + 10 * DAY,
    )

    assert events[1] == ReflectionPeriodEnded(
        outcome="not_identified", reason_code="indicators_not_confirmed", decided_by="supervisor-1"
    )


def test_identified_during_the_period_ends_it_and_no_reminder_follows() -> None:
    history = presumed()
    history += when(history, conclusive("identified"), NOW + 20 * DAY)

    assert history[-1] == ReflectionPeriodEnded(outcome="identified")
    assert when(history, TICK, NOW + 44 * DAY) == []


def test_not_identified_after_the_period_needs_nothing_more() -> None:
    history = presumed()
    history += when(history, TICK, NOW + 45 * DAY)

    [decision] = when(history, conclusive("not_identified"), NOW + 46 * DAY)
    assert decision.name() == "IdentificationRecorded"


def test_a_closed_case_ends_its_period_at_the_next_tick_and_takes_no_extension() -> None:
    history = presumed()
    history += when(history, CloseCase(reason="lost_contact"))

    with pytest.raises(CaseClosedError):
        when(history, ExtendReflectionPeriod(days=5, reason_code="other", extended_by="cw"))
    assert when(history, TICK, NOW + 2 * DAY) == [ReflectionPeriodEnded(outcome="case_closed")]
