"""The case plan: goals belong to assessed needs, due dates look forward, a goal is
replaced whole, and a closed case takes no new goals."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.case.domain.errors import CaseClosedError
from services.case.domain.plan import InvalidGoal, SetFollowUp, SetPlanGoal
from shared.events.case import CaseClosed, NeedsAssessed
from shared.events.case_plan import CaseFollowUpSet, CasePlanGoalSet

from .builders import NOW, given, opened, sealed, when

TODAY = NOW.date()
ASSESSED = [opened(), NeedsAssessed(needs=["shelter", "legal_aid"], note=None)]


def goal(**overrides: object) -> SetPlanGoal:
    fields: dict[str, object] = {
        "goal_id": "goal-1",
        "need": "shelter",
        "description": sealed("a safe place in Khujand"),
        "provider_id": "shelter-khujand",
        "due_on": TODAY + timedelta(days=14),
    }
    fields.update(overrides)
    return SetPlanGoal.model_validate(fields)


def test_a_goal_records_its_need_provider_due_date_and_an_open_status() -> None:
    [event] = when(ASSESSED, goal())

    assert isinstance(event, CasePlanGoalSet)
    assert (event.need, event.provider_id, event.due_on, event.status) == (
        "shelter",
        "shelter-khujand",
        TODAY + timedelta(days=14),
        "open",
    )


def test_a_goal_for_a_need_not_assessed_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidGoal) as refused:
        when(ASSESSED, goal(need="medical"))
    assert refused.value.field == "need"


def test_a_new_due_date_in_the_past_is_refused() -> None:
    with pytest.raises(InvalidGoal) as refused:
        when(ASSESSED, goal(due_on=TODAY - timedelta(days=1)))
    assert refused.value.field == "due_on"


def test_an_overdue_goal_can_still_be_marked_achieved_without_touching_its_date() -> None:
    overdue = CasePlanGoalSet(
        goal_id="goal-1",
        need="shelter",
        description=None,
        provider_id=None,
        due_on=date(2025, 5, 1),
        status="open",
    )
    [event] = when([*ASSESSED, overdue], goal(due_on=date(2025, 5, 1), status="achieved"))
    assert isinstance(event, CasePlanGoalSet) and event.status == "achieved"


def test_setting_a_goal_again_replaces_it_in_place() -> None:
    first = when(ASSESSED, goal())
    second = when([*ASSESSED, *first], goal(goal_id="goal-2", need="legal_aid"))
    third = when([*ASSESSED, *first, *second], goal(status="dropped", provider_id=None))

    case = given(*ASSESSED, *first, *second, *third)
    assert case is not None
    assert [(g.goal_id, g.status, g.provider_id) for g in case.plan] == [
        ("goal-1", "dropped", None),
        ("goal-2", "open", "shelter-khujand"),
    ]


def test_a_closed_case_takes_no_new_goal() -> None:
    with pytest.raises(CaseClosedError):
        when([*ASSESSED, CaseClosed(reason="services_completed", note=None)], goal())


def test_a_follow_up_is_recorded_and_may_be_marked_done_after_its_date() -> None:
    due = TODAY + timedelta(days=7)
    [event] = when(ASSESSED, SetFollowUp(follow_up_id="f-1", due_on=due))
    assert isinstance(event, CaseFollowUpSet) and (event.due_on, event.done) == (due, False)

    later = NOW + timedelta(days=30)  # past its date: marking it done keeps the date
    [done] = when([*ASSESSED, event], SetFollowUp(follow_up_id="f-1", due_on=due, done=True), later)
    assert isinstance(done, CaseFollowUpSet) and done.done
    with pytest.raises(InvalidGoal):
        when([*ASSESSED, event], SetFollowUp(follow_up_id="f-1", due_on=TODAY), later)
