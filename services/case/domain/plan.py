"""The case plan (pure rules; issue 13 item 4, docs/case-domain.md "The case plan").

- A goal belongs to one of the case's assessed needs (a need no longer assessed keeps its
  goals, but no new goal or change may name a need that is not assessed now).
- Setting a goal replaces it whole (PUT semantics) and is always recorded: its wording is
  sealed afresh each time, so an unchanged goal cannot be told from a changed one.
- A due date that is new or changed may not lie before today: a plan looks forward. An
  overdue goal can still be marked achieved or dropped without touching its date.
- A responsible provider that is new or changed must be in the service directory, not
  suspended, and offer the goal's need, when the case service has heard the directory
  (the app passes what it knows; it cannot check before it heard any). A goal whose
  provider later left the directory can still be closed without naming another.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict

from services.case.domain.errors import DomainError
from services.case.domain.state import Case, PlanGoal
from shared.events.base import Event, Sealed
from shared.events.case import Identifier
from shared.events.case_plan import CaseFollowUpSet, CasePlanGoalSet, GoalStatus
from shared.events.vocabulary import ServiceType


class InvalidGoal(DomainError):
    """The goal breaks a plan rule; ``field`` names the offending field of the goal."""

    code = "invalid_goal"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ResponsibleProvider(BaseModel):
    """What the directory, as the case service heard it, says of a goal's provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    services: tuple[ServiceType, ...]
    suspended: bool = False


class SetPlanGoal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    goal_id: Identifier
    need: ServiceType
    description: Sealed | None = None
    provider_id: Identifier | None = None
    due_on: date | None = None
    status: GoalStatus = "open"
    # The directory's word on ``provider_id`` (found by the app): ``directory_known`` False
    # when no directory was heard yet (nothing to check against), ``responsible`` None
    # when the directory does not list the provider.
    directory_known: bool = False
    responsible: ResponsibleProvider | None = None


class SetFollowUp(BaseModel):
    """A follow-up date on the case (set whole; ``done`` once it happened)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    follow_up_id: Identifier
    due_on: date
    note: Sealed | None = None
    done: bool = False


def check_follow_up(state: Case, command: SetFollowUp, today: date) -> None:
    """A new or changed follow-up date may not lie in the past (as for a goal's)."""
    current = dict(state.follow_ups).get(command.follow_up_id)
    if current != command.due_on and command.due_on < today:
        raise InvalidGoal("due_on", "a new or changed follow-up date may not lie in the past")


def decide_follow_up(state: Case, command: SetFollowUp, now: datetime) -> list[Event]:
    check_follow_up(state, command, now.date())
    return [
        CaseFollowUpSet(
            follow_up_id=command.follow_up_id,
            due_on=command.due_on,
            note=command.note,
            done=command.done,
        )
    ]


def check_goal(state: Case, command: SetPlanGoal, today: date) -> None:
    """Raise ``InvalidGoal`` when the goal breaks a rule (the route uses it for its 422)."""
    if command.need not in state.needs:
        raise InvalidGoal("need", "the need is not among the case's assessed needs")
    current = goal(state, command.goal_id)
    changed_date = current is None or current.due_on != command.due_on
    if command.due_on is not None and changed_date and command.due_on < today:
        raise InvalidGoal("due_on", "a new or changed due date may not lie in the past")
    changed_provider = current is None or current.provider_id != command.provider_id
    if command.provider_id is not None and changed_provider and command.directory_known:
        _check_responsible(command)


def _check_responsible(command: SetPlanGoal) -> None:
    found = command.responsible
    if found is None:
        raise InvalidGoal("provider_id", "no provider with that id in the service directory")
    if found.suspended:
        raise InvalidGoal("provider_id", "the provider is suspended in the service directory")
    if command.need not in found.services:
        raise InvalidGoal("provider_id", f"the provider does not offer {command.need}")


def decide_plan(state: Case, command: SetPlanGoal, now: datetime) -> list[Event]:
    check_goal(state, command, now.date())
    return [
        CasePlanGoalSet(
            goal_id=command.goal_id,
            need=command.need,
            description=command.description,
            provider_id=command.provider_id,
            due_on=command.due_on,
            status=command.status,
        )
    ]


def goal(state: Case, goal_id: str) -> PlanGoal | None:
    return next((g for g in state.plan if g.goal_id == goal_id), None)


def evolve_plan(state: Case, event: Event) -> Case | None:
    """The case after a goal or follow-up was set; None for any other event."""
    if isinstance(event, CaseFollowUpSet):
        dates = {**dict(state.follow_ups), event.follow_up_id: event.due_on}
        done = {*state.follow_ups_done} - {event.follow_up_id}
        if event.done:
            done.add(event.follow_up_id)
        return replace(state, follow_ups=tuple(dates.items()), follow_ups_done=frozenset(done))
    if not isinstance(event, CasePlanGoalSet):
        return None
    new = PlanGoal(
        goal_id=event.goal_id,
        need=event.need,
        provider_id=event.provider_id,
        due_on=event.due_on,
        status=event.status,
    )
    if goal(state, event.goal_id) is None:
        return replace(state, plan=(*state.plan, new))
    return replace(state, plan=tuple(new if g.goal_id == event.goal_id else g for g in state.plan))
