"""The recovery and reflection period as the case holds it (folded from its events)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.events.case_reflection import ReflectionOutcome


@dataclass(frozen=True)
class ReflectionPeriod:
    started_at: datetime
    ends_at: datetime
    # The nearest reminder already due for this end date (days before the end): only
    # settings nearer the end are still to come. An extension clears it, so the
    # caseworker is reminded again before the new end.
    reminded_at_days: int | None = None
    outcome: ReflectionOutcome | None = None  # None while it runs

    @property
    def running(self) -> bool:
        return self.outcome is None

    def days_left(self, now: datetime) -> int:
        """Whole days until the end, rounded up (0 once it has passed)."""
        return max(0, math.ceil((self.ends_at - now) / timedelta(days=1)))
