"""The plan's dates outside the domain: their projection and the due-date timer.

``project_due_dates`` keeps ``"case".due_date`` (each goal's and follow-up's date, whether
it is still open, the nearest reminder decided for it, whether the case is open) in the
transaction of each append. The timer (one replica, under the ``due-date-timer`` lease)
runs ``ChaseDueDates`` on the cases with a reminder due now (``app/timers.py``, as for the
reflection period).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

import asyncpg

from services.case.app.timers import chase_cases, run_timer
from services.case.domain.due_dates import ChaseDueDates
from shared.eventstore import EventStore, StoredEvent
from shared.times import Clock

TABLE = '"case".due_date'
_CASE_WIDE = {"CaseClosed": False, "IdentityErased": False, "CaseReopened": True}
_UPSERT = f"""
    INSERT INTO {TABLE} AS r (case_id, kind, item_id, due_on, open, version)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (case_id, kind, item_id) DO UPDATE SET
        due_on = excluded.due_on,
        open = excluded.open,
        -- a different date starts its reminders again
        reminded_days = CASE WHEN r.due_on IS NOT DISTINCT FROM excluded.due_on
                             THEN r.reminded_days END,
        version = excluded.version
    WHERE r.version < excluded.version"""


async def project_due_dates(conn: asyncpg.Connection, stored: Sequence[StoredEvent]) -> None:
    """Keep the plan's dates (guarded by stream version: idempotent)."""
    for e in stored:
        d, name = e.data, e.event_name
        if name == "CasePlanGoalSet":
            due_on = _date(d.get("due_on"))
            is_open = d["status"] == "open" and due_on is not None
            args = ("plan_goal", d["goal_id"], due_on, is_open)
            await conn.execute(_UPSERT, e.stream_id, *args, e.stream_version)
        elif name == "CaseFollowUpSet":
            args = ("follow_up", d["follow_up_id"], _date(d["due_on"]), not d["done"])
            await conn.execute(_UPSERT, e.stream_id, *args, e.stream_version)
        elif name == "DueDateReminderDue":
            await conn.execute(
                f"""UPDATE {TABLE} SET reminded_days = $5, version = $6
                    WHERE case_id = $1 AND kind = $2 AND item_id = $3 AND due_on = $4
                      AND version < $6""",
                e.stream_id,
                d["kind"],
                d["item_id"],
                _date(d["due_on"]),
                d["days_before"],
                e.stream_version,
            )
        elif name in _CASE_WIDE:  # an erased case is never reopened (domain/decide.py)
            await conn.execute(
                f"""UPDATE {TABLE} SET case_open = $2, version = $3
                    WHERE case_id = $1 AND version < $3""",
                e.stream_id,
                _CASE_WIDE[name],
                e.stream_version,
            )


def _date(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value is not None else None


async def chase_due_dates(
    pool: asyncpg.Pool,
    store: EventStore,
    now: datetime,
    reminder_days: Sequence[int],
    limit: int = 200,
) -> int:
    """One pass; the number of reminders decided.

    Only the cases with a reminder due now are loaded (the same rule as the domain's, in
    SQL), so dates waiting for their next setting never crowd a due one out of the batch."""
    today = now.date()
    horizon = today + timedelta(days=max(reminder_days, default=0))
    rows = await pool.fetch(
        f"""SELECT case_id FROM {TABLE}
            WHERE open AND case_open AND due_on <= $1
              AND EXISTS (SELECT 1 FROM unnest($2::int[]) AS s(d)
                          WHERE (reminded_days IS NULL OR s.d < reminded_days)
                            AND due_on - s.d <= $3)
            GROUP BY case_id ORDER BY min(due_on) LIMIT $4""",
        horizon,
        list(reminder_days),
        today,
        limit,
    )
    return await chase_cases(
        pool,
        store,
        [row["case_id"] for row in rows],
        ChaseDueDates(reminder_days=tuple(reminder_days)),
        now,
        (project_due_dates,),
        name="due_dates",
    )


async def run_due_date_timer(
    pool: asyncpg.Pool,
    store: EventStore,
    clock: Clock,
    reminder_days: Sequence[int],
    interval: float,
    limit: int,
) -> None:
    async def one_pass(now: datetime) -> int:
        return await chase_due_dates(pool, store, now, reminder_days, limit)

    await run_timer("due_dates", one_pass, clock, interval)
