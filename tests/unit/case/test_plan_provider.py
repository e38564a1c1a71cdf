"""A plan goal's responsible provider, checked against the directory as the case service
heard it: listed, not suspended, offering the goal's need; unchecked before any directory
was heard; an unchanged provider is not checked again (a goal can still be closed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.case.domain.plan import InvalidGoal, ResponsibleProvider, SetPlanGoal
from shared.events.base import Event
from shared.events.case import NeedsAssessed
from shared.events.case_plan import CasePlanGoalSet

from .builders import NOW, opened, when

ASSESSED: list[Event] = [opened(), NeedsAssessed(needs=["shelter", "medical"], note=None)]
SHELTER = ResponsibleProvider(services=("shelter", "psychosocial"))


def goal(**overrides: object) -> SetPlanGoal:
    fields: dict[str, object] = {
        "goal_id": "goal-1",
        "need": "shelter",
        "provider_id": "shelter-khujand",
        "due_on": NOW.date() + timedelta(days=7),
        "directory_known": True,
        "responsible": SHELTER,
    }
    fields.update(overrides)
    return SetPlanGoal.model_validate(fields)


def test_a_listed_provider_offering_the_need_is_accepted() -> None:
    [event] = when(ASSESSED, goal())
    assert isinstance(event, CasePlanGoalSet) and event.provider_id == "shelter-khujand"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (goal(responsible=None), "no provider with that id in the service directory"),
        (
            goal(responsible=SHELTER.model_copy(update={"suspended": True})),
            "the provider is suspended in the service directory",
        ),
        (goal(need="medical"), "the provider does not offer medical"),
    ],
)
def test_an_unknown_suspended_or_unfitting_provider_is_refused(
    command: SetPlanGoal, message: str
) -> None:
    with pytest.raises(InvalidGoal) as e:
        when(ASSESSED, command)
    assert (e.value.field, e.value.message) == ("provider_id", message)


def test_before_any_directory_was_heard_nothing_is_checked() -> None:
    [event] = when(ASSESSED, goal(directory_known=False, responsible=None))
    assert isinstance(event, CasePlanGoalSet)


def test_an_unchanged_provider_gone_from_the_directory_still_lets_the_goal_close() -> None:
    history = ASSESSED + when(ASSESSED, goal())
    [event] = when(history, goal(responsible=None, status="achieved"))
    assert isinstance(event, CasePlanGoalSet) and event.status == "achieved"
    # Naming another provider is checked again.
    with pytest.raises(InvalidGoal):
        when(history, goal(provider_id="someone-else", responsible=None))
