"""The case service's timers: one pass over the cases a table says may be due.

The reflection period and the plan's due dates are chased the same way: a projection
written in each append's transaction says which cases may have something due; the timer
(one replica, under its lease) sends each of them a command in its own transaction with
the expected version, and the domain decides a reminder only when one is due and not yet
decided. What was decided is in the case's events, so a restart, a repeated pass or two
instances decide each reminder once, and a race with a caseworker's write is harmless.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime

import asyncpg

from services.case.app.loading import load_case
from services.case.app.projection import project
from services.case.app.timeline import record_own_events
from services.case.domain import decide
from services.case.domain.commands import CaseCommand
from services.case.domain.errors import DomainError
from shared.envelope import Actor
from shared.eventstore import ConcurrencyError, EventStore, NewEvent, StoredEvent
from shared.ids import uuid7
from shared.logging import get_logger

log = get_logger("safepath.case.timers")
Project = Callable[[asyncpg.Connection, Sequence[StoredEvent]], Awaitable[None]]


async def chase_cases(
    pool: asyncpg.Pool,
    store: EventStore,
    case_ids: Sequence[str],
    command: CaseCommand,
    now: datetime,
    projections: Sequence[Project],
    *,
    name: str,
) -> int:
    """Send ``command`` to each case; the number of events decided. ``projections`` run
    after the case summary and before the history, in the append's transaction."""
    decided = 0
    for case_id in case_ids:
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
                for keep in projections:
                    await keep(conn, stored)
                await record_own_events(conn, stored)
        except ConcurrencyError:
            continue  # a caseworker's write or another instance got there first
        except DomainError as e:
            log.error("timer_chase_refused", timer=name, case_id=case_id, code=e.code)
            continue
        decided += len(events)
        for event in events:
            log.info("timer_step", timer=name, case_id=case_id, step=event.name())
    return decided


async def run_timer(
    name: str,
    one_pass: Callable[[datetime], Awaitable[int]],
    clock: Callable[[], datetime],
    interval: float,
) -> None:
    """Run ``one_pass`` every ``interval`` seconds until cancelled (the lease's task)."""
    while True:
        try:
            await one_pass(clock())
        except asyncio.CancelledError:
            raise
        except Exception as e:  # keep the timer alive through a database outage
            log.warning("timer_pass_failed", timer=name, error=type(e).__name__)
        await asyncio.sleep(interval)
