"""Case events of the recovery and reflection period (issue 13, docs/case-domain.md).

A presumed victim of trafficking gets a recovery and reflection period (at least 30 days
under the Council of Europe Convention, Art. 13; the length is a setting). It starts when
the case is recorded as ``presumed``, can be extended with a reason, reminds the
caseworker before it ends, and ends (elapsed, or with a conclusive decision). Every field
is clear: dates, day counts, codes and account subjects, never the person.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event
from shared.events.case import Subject
from shared.events.registry import registry

ExtensionReason = Literal[
    "medical_treatment",
    "psychological_recovery",
    "safety_risk",
    "legal_advice_pending",
    "child_best_interests",
    "other",
]
ReflectionOutcome = Literal["elapsed", "identified", "not_identified", "case_closed"]
# Why a person was found not identified while the period still ran (a code, never text).
NotIdentifiedReason = Literal[
    "indicators_not_confirmed",
    "other_form_of_exploitation",
    "person_declined_assistance",
    "other",
]
Days = Annotated[int, Field(ge=1, le=365)]


class _ReflectionEvent(Event):
    service = "case"


@registry.register
class ReflectionPeriodStarted(_ReflectionEvent):
    """The period runs from ``started_at`` for ``days`` days, until ``ends_at``."""

    started_at: AwareDatetime
    ends_at: AwareDatetime
    days: Days


@registry.register
class ReflectionPeriodExtended(_ReflectionEvent):
    """``added_days`` more: the period now ends at ``ends_at``; reminders start again."""

    ends_at: AwareDatetime
    added_days: Days
    reason_code: ExtensionReason
    extended_by: Subject


@registry.register
class ReflectionPeriodReminderDue(_ReflectionEvent):
    """The caseworker is to be reminded: the period ends at ``ends_at``, in about
    ``days_before`` days (the reminder setting that fell due)."""

    ends_at: AwareDatetime
    days_before: Days


@registry.register
class ReflectionPeriodEnded(_ReflectionEvent):
    """The period is over: ``elapsed``, a conclusive decision was recorded during it
    (``not_identified`` names its reason and the supervisor who decided), or the case was
    closed or erased meanwhile (``case_closed``, found by the timer)."""

    outcome: ReflectionOutcome
    reason_code: NotIdentifiedReason | None = None
    decided_by: Subject | None = None


REFLECTION_EVENTS: tuple[type[Event], ...] = (
    ReflectionPeriodStarted,
    ReflectionPeriodExtended,
    ReflectionPeriodReminderDue,
    ReflectionPeriodEnded,
)
