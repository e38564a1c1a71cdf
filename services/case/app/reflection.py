"""The reflection period outside the domain: its projection and its timer.

``project_reflection`` keeps ``"case".reflection_period`` (when each running period ends)
in the transaction of each append. The timer (one replica, under the ``reflection-timer``
lease) runs ``ChaseReflectionPeriod`` on every case whose period ends within the longest
reminder setting, each in its own transaction: the domain decides a reminder (or the end)
only when one is due and not yet decided, and the expected-version append makes a race
with a caseworker's write, or another instance, harmless. Deadlines live in the events and
the table, so a restart loses nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta

import asyncpg

from services.case.app.loading import load_case
from services.case.app.projection import project
from services.case.app.statistics.model import project as project_statistics
from services.case.app.timeline import record_own_events
from services.case.domain import decide
from services.case.domain.errors import DomainError
from services.case.domain.reflection import ChaseReflectionPeriod
from shared.envelope import Actor
from shared.eventstore import ConcurrencyError, EventStore, NewEvent, StoredEvent
from shared.ids import uuid7
from shared.logging import get_logger
from shared.times import Clock

log = get_logger("safepath.case.reflection")
TABLE = '"case".reflection_period'
_EVENTS = ("ReflectionPeriodStarted", "ReflectionPeriodExtended", "ReflectionPeriodEnded")


async def project_reflection(conn: asyncpg.Connection, stored: Sequence[StoredEvent]) -> None:
    """Keep the end of each running period (guarded by stream version: idempotent)."""
    for e in stored:
        if e.event_name not in _EVENTS:
            continue
        running = e.event_name != "ReflectionPeriodEnded"
        await conn.execute(
            f"""INSERT INTO {TABLE} AS r (case_id, ends_at, running, version)
                VALUES ($1, coalesce($2::timestamptz, 'epoch'), $3, $4)
                ON CONFLICT (case_id) DO UPDATE SET
                    ends_at = coalesce($2::timestamptz, r.ends_at),
                    running = excluded.running, version = excluded.version
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
    """One pass; the number of events decided (reminders and ends)."""
    horizon = now + timedelta(days=max(reminder_days, default=0))
    rows = await pool.fetch(
        f"SELECT case_id FROM {TABLE} WHERE running AND ends_at <= $1 ORDER BY ends_at LIMIT $2",
        horizon,
        limit,
    )
    command = ChaseReflectionPeriod(reminder_days=tuple(reminder_days))
    decided = 0
    for row in rows:
        case_id = row["case_id"]
        try:
            async with pool.acquire() as conn, conn.transaction():
                loaded = await load_case(store, case_id, conn=conn)
                if loaded.state is None:
                    continue
                events = decide(loaded.state, command, now)
                if not events:
                    continue
                stored = await store.append(
                    case_id,
                    loaded.version,
                    [
                        NewEvent(e, Actor.service("case"), str(uuid7()), occurred_at=now)
                        for e in events
                    ],
                    conn=conn,
                )
                await project(conn, stored)
                await project_statistics(conn, stored)  # the period ended (elapsed)
                await project_reflection(conn, stored)
                await record_own_events(conn, stored)
        except ConcurrencyError:
            continue  # a caseworker's write or another instance got there first
        except DomainError as e:
            log.error("reflection_chase_refused", case_id=case_id, code=e.code)
            continue
        decided += len(events)
        for event in events:
            log.info("reflection_period_step", case_id=case_id, step=event.name())
    return decided


async def run_reflection_timer(
    pool: asyncpg.Pool,
    store: EventStore,
    clock: Clock,
    reminder_days: Sequence[int],
    interval: float,
    limit: int,
) -> None:
    while True:
        try:
            await chase_reflection_periods(pool, store, clock(), reminder_days, limit)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # keep the timer alive through a database outage
            log.warning("reflection_pass_failed", error=type(e).__name__)
        await asyncio.sleep(interval)
