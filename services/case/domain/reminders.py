"""When a reminder falls due (pure; shared by the reflection period and the plan's dates).

A reminder setting is a number of days before a deadline. A setting falls due once the
time left is that many days or fewer, and each setting is decided once per deadline:
only settings nearer the deadline than the one already decided are still to come. After
an outage several settings may have fallen due at once; the nearest one stands for them
all (one reminder, not a burst of stale ones).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta


def due_setting(settings: Iterable[int], reminded_at: int | None, left: timedelta) -> int | None:
    """The setting to remind with now (days before), or None when nothing new is due.

    ``reminded_at``: the setting already decided for this deadline (None: none yet);
    ``left``: the time until the deadline (negative once it has passed)."""
    due = [
        d
        for d in settings
        if (reminded_at is None or d < reminded_at) and left <= timedelta(days=d)
    ]
    return min(due, default=None)
