"""Reminders of the case plan's dates (pure; issue 13 item 4, docs/case-domain.md).

- The due-date timer (``ChaseDueDates``) reminds the caseworker of each open goal with a
  due date and each follow-up not yet done, when a configured number of days before the
  date is reached (0: on the day). Each setting once per due date; after an outage only
  the nearest due setting (one event per goal or follow-up). Early, late or repeated
  ticks decide nothing new (domain/reminders.py, as for the reflection period).
- A goal achieved or dropped, or a follow-up done, is not reminded. A changed date
  starts its reminders again.
- A closed or erased case is not reminded of anything (a reopened one is again).
- Dates are days: the time left is counted from ``now``'s date (UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from services.case.domain.reminders import due_setting
from services.case.domain.state import Case, DueReminder
from shared.events.base import Event
from shared.events.case_plan import DueDateReminderDue, DueKind

DEFAULT_REMINDER_DAYS = (3, 0)


class ChaseDueDates(BaseModel):
    """Sent by the due-date timer with the reminder settings (days before the date)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    reminder_days: tuple[int, ...] = Field(default=DEFAULT_REMINDER_DAYS)


def open_dates(state: Case) -> Iterator[tuple[DueKind, str, date]]:
    """The dates still to be reminded of: open goals with a date, follow-ups not done."""
    for goal in state.plan:
        if goal.status == "open" and goal.due_on is not None:
            yield "plan_goal", goal.goal_id, goal.due_on
    for follow_up_id, due_on in state.follow_ups:
        if follow_up_id not in state.follow_ups_done:
            yield "follow_up", follow_up_id, due_on


def decide_due_dates(state: Case, command: ChaseDueDates, now: datetime) -> list[Event]:
    if state.is_closed or state.identity_erased:
        return []
    events: list[Event] = []
    for kind, item_id, due_on in open_dates(state):
        earlier = reminded(state, kind, item_id)
        already = earlier.days_before if earlier and earlier.due_on == due_on else None
        days = due_setting(command.reminder_days, already, due_on - now.date())
        if days is not None:
            events.append(
                DueDateReminderDue(kind=kind, item_id=item_id, due_on=due_on, days_before=days)
            )
    return events


def reminded(state: Case, kind: DueKind, item_id: str) -> DueReminder | None:
    return next((r for r in state.due_reminders if (r.kind, r.item_id) == (kind, item_id)), None)


def evolve_due_dates(state: Case, event: Event) -> Case | None:
    """The case after a due-date reminder; None for any other event."""
    if not isinstance(event, DueDateReminderDue):
        return None
    new = DueReminder(event.kind, event.item_id, event.due_on, event.days_before)
    others = tuple(
        r for r in state.due_reminders if (r.kind, r.item_id) != (event.kind, event.item_id)
    )
    return replace(state, due_reminders=(*others, new))
