"""Reminders of the plan's dates: once per setting and due date, the nearest one after an
outage, none for a goal achieved or dropped or a follow-up done, none on a closed or
erased case, and again after the date changed."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.case.domain.due_dates import ChaseDueDates
from services.case.domain.plan import SetFollowUp, SetPlanGoal
from services.case.domain.reminders import due_setting
from shared.events.base import Event
from shared.events.case import CaseClosed, CaseReopened, IdentityErased, NeedsAssessed
from shared.events.case_plan import DueDateReminderDue

from .builders import NOW, opened, sealed, when

DAY = timedelta(days=1)
TODAY = NOW.date()
DUE = TODAY + 10 * DAY
TICK = ChaseDueDates(reminder_days=(3, 0))


def goal(status: str = "open", due: object = DUE) -> SetPlanGoal:
    return SetPlanGoal.model_validate(
        {
            "goal_id": "goal-1",
            "need": "shelter",
            "description": sealed("a bed"),
            "due_on": due,
            "status": status,
        }
    )


def planned(*commands: SetPlanGoal | SetFollowUp) -> list[Event]:
    history: list[Event] = [opened(), NeedsAssessed(needs=["shelter"], note=None)]
    for command in commands:
        history += when(history, command)
    return history


def ticks(history: list[Event], *moments: datetime) -> list[list[Event]]:
    """Each pass of the timer at ``moments``, its events kept (as the store would)."""
    decided = []
    for at in moments:
        events = when(history, TICK, at)
        history += events
        decided.append(events)
    return decided


def at_days_before(days: int) -> datetime:
    return NOW + (10 - days) * DAY


def test_a_goal_is_reminded_once_per_setting_and_not_again() -> None:
    history = planned(goal())

    decided = ticks(
        history,
        at_days_before(4),
        at_days_before(3),
        at_days_before(3) + timedelta(hours=5),  # the same day again
        at_days_before(1),
        at_days_before(0),
        at_days_before(-2),  # overdue: the last setting was decided
    )

    assert decided == [
        [],
        [DueDateReminderDue(kind="plan_goal", item_id="goal-1", due_on=DUE, days_before=3)],
        [],
        [],
        [DueDateReminderDue(kind="plan_goal", item_id="goal-1", due_on=DUE, days_before=0)],
        [],
    ]


def test_after_an_outage_only_the_nearest_setting_is_sent() -> None:
    [events] = ticks(planned(goal()), at_days_before(-1))

    assert events == [
        DueDateReminderDue(kind="plan_goal", item_id="goal-1", due_on=DUE, days_before=0)
    ]


def test_an_achieved_or_dropped_goal_or_a_done_follow_up_is_not_reminded() -> None:
    for status in ("achieved", "dropped"):
        history = planned(goal(), goal(status=status))
        assert ticks(history, at_days_before(0)) == [[]], status
    done = SetFollowUp(follow_up_id="f-1", due_on=DUE, done=True)
    assert ticks(planned(done), at_days_before(0)) == [[]]
    # A goal without a date has nothing to remind of.
    assert ticks(planned(goal(due=None)), at_days_before(0)) == [[]]


def test_a_follow_up_is_reminded_until_it_is_done() -> None:
    follow_up = SetFollowUp(follow_up_id="f-1", due_on=DUE, note=sealed("call back"))
    history = planned(follow_up)

    [first] = ticks(history, at_days_before(3))
    assert first == [DueDateReminderDue(kind="follow_up", item_id="f-1", due_on=DUE, days_before=3)]
    history += when(history, follow_up.model_copy(update={"done": True}), at_days_before(2))
    assert ticks(history, at_days_before(0)) == [[]]


def test_a_changed_date_is_reminded_again() -> None:
    history = planned(goal())
    ticks(history, at_days_before(0))
    later = DUE + 5 * DAY
    history += when(history, goal(due=later), at_days_before(0))

    [events] = ticks(history, NOW + 15 * DAY)
    assert events == [
        DueDateReminderDue(kind="plan_goal", item_id="goal-1", due_on=later, days_before=0)
    ]


def test_a_closed_or_erased_case_is_not_reminded_and_a_reopened_one_is() -> None:
    closed = [*planned(goal()), CaseClosed(reason="services_completed", note=None)]
    assert ticks(list(closed), at_days_before(0)) == [[]]
    erased = [*planned(goal()), IdentityErased(erased_by="admin-1", reason_code="survivor_request")]
    assert ticks(erased, at_days_before(0)) == [[]]
    reopened = [*closed, CaseReopened(reason="new_needs", note=None)]
    [events] = ticks(reopened, at_days_before(0))
    assert [e.days_before for e in events if isinstance(e, DueDateReminderDue)] == [0]


def test_goals_and_follow_ups_due_together_are_one_event_each() -> None:
    history = planned(goal(), SetFollowUp(follow_up_id="f-1", due_on=DUE))

    [events] = ticks(history, at_days_before(3))
    assert [(e.kind, e.item_id) for e in events if isinstance(e, DueDateReminderDue)] == [
        ("plan_goal", "goal-1"),
        ("follow_up", "f-1"),
    ]


def test_a_setting_falls_due_once_the_time_left_is_that_many_days_or_fewer() -> None:
    assert due_setting((7, 1), None, 8 * DAY) is None
    assert due_setting((7, 1), None, 7 * DAY) == 7
    assert due_setting((7, 1), 7, 6 * DAY) is None
    assert due_setting((7, 1), 7, DAY) == 1
    assert due_setting((7, 1), None, -DAY) == 1  # after an outage: the nearest
    assert due_setting((7, 1), 1, -DAY) is None
