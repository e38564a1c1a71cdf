"""The case plan (issue 13 item 4, docs/case-domain.md): goals per assessed need, each with
an optional responsible provider, an optional due date and a status. The goal's wording is
sealed under the case key (it may describe the person); everything else is in clear."""

from __future__ import annotations

from datetime import date
from typing import Literal

from shared.events.base import Event, Sealed
from shared.events.case import Identifier
from shared.events.registry import registry
from shared.events.vocabulary import ServiceType

GoalStatus = Literal["open", "achieved", "dropped"]


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
    happened. No reminder is sent yet (docs/case-domain.md "The case plan")."""

    service = "case"

    follow_up_id: Identifier
    due_on: date
    note: Sealed | None  # what to follow up, under the case key
    done: bool
