"""The recovery and reflection period: rules (pure).

- Recording ``presumed`` starts a period of the configured length (the app passes it;
  at least 30 days under the Council of Europe Convention, Art. 13), unless one runs.
- It can be extended while it runs, by whole days, with a reason code; the reminders
  start again before the new end.
- The timer (``ChaseReflectionPeriod``) marks a reminder due when a configured number of
  days before the end is reached (one event however many settings fell due at once: the
  nearest one) and ends the period once ``ends_at`` has passed. Early, late or repeated
  ticks decide nothing new.
- On a closed or erased case the timer ends it (``case_closed``) instead of reminding.
- A conclusive decision while it runs ends it with that outcome; ``not_identified`` then
  needs a reason code and a supervisor, or it is refused.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from services.case.domain.errors import DomainError, InvalidTransition
from services.case.domain.reflection_state import ReflectionPeriod
from services.case.domain.reminders import due_setting
from services.case.domain.state import Case
from shared.events.base import Event
from shared.events.case import IdentificationStatus, Subject
from shared.events.case_reflection import (
    Days,
    ExtensionReason,
    NotIdentifiedReason,
    ReflectionPeriodEnded,
    ReflectionPeriodExtended,
    ReflectionPeriodReminderDue,
    ReflectionPeriodStarted,
)

DEFAULT_DAYS = 30
DEFAULT_REMINDER_DAYS = (7, 1)


class ReasonAndSupervisorRequired(DomainError):
    """``not_identified`` during the reflection period without a reason or a supervisor."""

    code = "reason_and_supervisor_required"

    def __init__(self) -> None:
        super().__init__(
            "the reflection period is running: a not_identified decision needs a reason code"
            " and must be recorded by a supervisor"
        )


class ReflectionCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ExtendReflectionPeriod(ReflectionCommand):
    days: Days
    reason_code: ExtensionReason
    extended_by: Subject


class ChaseReflectionPeriod(ReflectionCommand):
    """Sent by the reflection timer with the reminder settings (days before the end)."""

    reminder_days: tuple[int, ...] = Field(default=DEFAULT_REMINDER_DAYS)


def decide_reflection(state: Case, command: ReflectionCommand, now: datetime) -> list[Event]:
    period = state.reflection
    if isinstance(command, ExtendReflectionPeriod):
        if period is None or not period.running:
            raise InvalidTransition("no reflection period is running: nothing to extend")
        return [
            ReflectionPeriodExtended(
                ends_at=period.ends_at + timedelta(days=command.days),
                added_days=command.days,
                reason_code=command.reason_code,
                extended_by=command.extended_by,
            )
        ]
    assert isinstance(command, ChaseReflectionPeriod)
    if period is None or not period.running:
        return []
    if state.is_closed or state.identity_erased:  # no reminders about a wound-down case
        return [ReflectionPeriodEnded(outcome="case_closed")]
    if now >= period.ends_at:
        return [ReflectionPeriodEnded(outcome="elapsed")]
    days = due_setting(command.reminder_days, period.reminded_at_days, period.ends_at - now)
    if days is None:
        return []
    return [ReflectionPeriodReminderDue(ends_at=period.ends_at, days_before=days)]


def with_identification(
    state: Case,
    status: IdentificationStatus,
    now: datetime,
    *,
    period_days: int,
    reason_code: NotIdentifiedReason | None,
    decided_by_supervisor: str | None,
) -> list[Event]:
    """The reflection events that accompany recording ``status`` (after the decision)."""
    period = state.reflection
    running = period is not None and period.running
    if status == "presumed":
        if running:
            return []
        return [
            ReflectionPeriodStarted(
                started_at=now, ends_at=now + timedelta(days=period_days), days=period_days
            )
        ]
    if not running:
        return []
    if status == "not_identified":
        if reason_code is None or decided_by_supervisor is None:
            raise ReasonAndSupervisorRequired()
        return [
            ReflectionPeriodEnded(
                outcome="not_identified",
                reason_code=reason_code,
                decided_by=decided_by_supervisor,
            )
        ]
    return [ReflectionPeriodEnded(outcome="identified")]


def evolve_reflection(state: Case, event: Event) -> Case | None:
    """The case after a reflection event; None for any other event."""
    period = state.reflection
    if isinstance(event, ReflectionPeriodStarted):
        return replace(state, reflection=ReflectionPeriod(event.started_at, event.ends_at))
    if period is None:
        return state if isinstance(event, _OTHERS) else None
    if isinstance(event, ReflectionPeriodExtended):
        extended = replace(period, ends_at=event.ends_at, reminded_at_days=None)
        return replace(state, reflection=extended)
    if isinstance(event, ReflectionPeriodReminderDue):
        reminded = replace(period, reminded_at_days=event.days_before)
        return replace(state, reflection=reminded)
    if isinstance(event, ReflectionPeriodEnded):
        return replace(state, reflection=replace(period, outcome=event.outcome))
    return None


_OTHERS = (ReflectionPeriodExtended, ReflectionPeriodReminderDue, ReflectionPeriodEnded)
