"""The case plan (issue 13 item 4, docs/case-domain.md): goals per assessed need, each with
an optional responsible provider, an optional due date and a status. The goal's wording is
sealed under the case key (it may describe the person); everything else is in clear."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from shared.events.base import Event, Sealed
from shared.events.case import Identifier
from shared.events.registry import registry
from shared.events.vocabulary import ServiceType

GoalStatus = Literal["open", "achieved", "dropped"]
# What a due-date reminder is about: a goal of the plan, or a follow-up date.
DueKind = Literal["plan_goal", "follow_up"]
ReminderDays = Annotated[int, Field(ge=0, le=365)]  # 0: on the day itself


@registry.register
class CasePlanGoalSet(Event):
    """A goal of the case plan was set or changed (the whole goal, PUT semantics)."""

    service = "case"

    goal_id: Identifier
    need: ServiceType  # one of the case's assessed needs
    description: Sealed | None  # the goal in words, under the case key
    provider_id: Identifier | None  # the responsible provider (a directory id), if any
    due_on: date | None
    status: GoalStatus


@registry.register
class CaseFollowUpSet(Event):
    """A follow-up date on the case was set or changed (PUT semantics); ``done`` once it
    happened. The caseworker is reminded of it until it is done (``DueDateReminderDue``)."""

    service = "case"

    follow_up_id: Identifier
    due_on: date
    note: Sealed | None  # what to follow up, under the case key
    done: bool


@registry.register
class DueDateReminderDue(Event):
    """The caseworker is to be reminded that an open goal (``plan_goal``) or a follow-up
    not yet done (``follow_up``) is due on ``due_on``, in about ``days_before`` days (the
    reminder setting that fell due; 0 on the day). Decided by the due-date timer, once per
    setting and due date; ids, a date and a day count only."""

    service = "case"

    kind: DueKind
    item_id: Identifier  # the goal id or the follow-up id
    due_on: date
    days_before: ReminderDays
