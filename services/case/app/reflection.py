"""The reflection period outside the domain: its projection and its timer.

``project_reflection`` keeps ``"case".reflection_period`` (when each running period ends)
in the transaction of each append. The timer (one replica, under the ``reflection-timer``
lease) runs ``ChaseReflectionPeriod`` on every case whose period ends within the longest
reminder setting, each in its own transaction (``app/timers.py``, shared with the plan's
due dates): the domain decides a reminder (or the end) only when one is due and not yet
decided, and the expected-version append makes a race with a caseworker's write, or
another instance, harmless. Deadlines live in the events and the table, so a restart
loses nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from services.case.app.statistics.model import project as project_statistics
from services.case.app.timers import chase_cases, run_timer
from services.case.domain.reflection import ChaseReflectionPeriod
from shared.eventstore import EventStore, StoredEvent
from shared.times import Clock

TABLE = '"case".reflection_period'
_EVENTS = ("ReflectionPeriodStarted", "ReflectionPeriodExtended", "ReflectionPeriodEnded")


async def project_reflection(conn: asyncpg.Connection, stored: Sequence[StoredEvent]) -> None:
    """Keep the end of each running period and the nearest reminder decided for it
    (guarded by stream version: idempotent)."""
    for e in stored:
        if e.event_name == "ReflectionPeriodReminderDue":
            await conn.execute(
                f"""UPDATE {TABLE} SET reminded_days = $2, version = $3
                    WHERE case_id = $1 AND version < $3""",
                e.stream_id,
                e.data["days_before"],
                e.stream_version,
            )
            continue
        if e.event_name not in _EVENTS:
            continue
        running = e.event_name != "ReflectionPeriodEnded"
        await conn.execute(
            f"""INSERT INTO {TABLE} AS r (case_id, ends_at, running, version)
                VALUES ($1, coalesce($2::timestamptz, 'epoch'), $3, $4)
                ON CONFLICT (case_id) DO UPDATE SET
                    ends_at = coalesce($2::timestamptz, r.ends_at),
                    running = excluded.running, version = excluded.version,
                    -- a new start or an extension starts the reminders again
                    reminded_days = CASE WHEN $2::timestamptz IS NULL
                                         THEN r.reminded_days END
                WHERE r.version < excluded.version""",
            e.stream_id,
            datetime.fromisoformat(e.data["ends_at"]) if "ends_at" in e.data else None,
            running,
            e.stream_version,
        )


async def chase_reflection_periods(
    pool: asyncpg.Pool,
    store: EventStore,
    now: datetime,
    reminder_days: Sequence[int],
    limit: int = 200,
) -> int:
    """One pass; the number of events decided (reminders and ends).

    Only the periods with a reminder or the end due now are loaded (the domain's rule in
    SQL), so periods waiting for their next setting never crowd a due one out of the batch.
    """
    horizon = now + timedelta(days=max(reminder_days, default=0))
    rows = await pool.fetch(
        f"""SELECT case_id FROM {TABLE}
            WHERE running AND ends_at <= $1
              AND (ends_at <= $2 OR EXISTS (
                  SELECT 1 FROM unnest($3::int[]) AS s(d)
                  WHERE (reminded_days IS NULL OR s.d < reminded_days)
                    AND ends_at - make_interval(days => s.d) <= $2))
            ORDER BY ends_at LIMIT $4""",
        horizon,
        now,
        list(reminder_days),
        limit,
    )
    return await chase_cases(
        pool,
        store,
        [row["case_id"] for row in rows],
        ChaseReflectionPeriod(reminder_days=tuple(reminder_days)),
        now,
        # the period ended (elapsed) counts in the statistics
        (project_statistics, project_reflection),
        name="reflection",
    )


async def run_reflection_timer(
    pool: asyncpg.Pool,
    store: EventStore,
    clock: Clock,
    reminder_days: Sequence[int],
    interval: float,
    limit: int,
) -> None:
    async def one_pass(now: datetime) -> int:
        return await chase_reflection_periods(pool, store, now, reminder_days, limit)

    await run_timer("reflection", one_pass, clock, interval)
