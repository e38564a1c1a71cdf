"""The transfer timer: expire the transfer requests nobody answered in time.

It runs under the ``transfer-timer`` lease (one replica), the way the other case timers do
(``app/timers.py``): each pass reads ``"case".transfer_request`` for pending requests whose
``expires_at`` has passed and sends each case ``ExpireTransfer`` in its own transaction.
The domain records ``CaseTransferExpired`` only while the request is pending and due, and
the expected-version append makes a race with an answer, a cancellation or another
instance harmless. The deadline lives in the request's event and the table, so a restart
neither loses nor repeats an expiry. The sending side keeps the case; notify tells whoever
asked (docs/notify.md).
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.case.app.statistics.model import project as project_statistics
from services.case.app.timers import chase_cases, run_timer
from services.case.app.transfers import TABLE, project_transfers
from services.case.domain.transfer import ExpireTransfer
from shared.eventstore import EventStore
from shared.times import Clock


async def expire_transfers(
    pool: asyncpg.Pool, store: EventStore, now: datetime, limit: int = 200
) -> int:
    """One pass; the number of requests expired."""
    rows = await pool.fetch(
        f"""SELECT case_id FROM {TABLE}
            WHERE pending AND expires_at <= $1 ORDER BY expires_at LIMIT $2""",
        now,
        limit,
    )
    return await chase_cases(
        pool,
        store,
        [row["case_id"] for row in rows],
        ExpireTransfer(),
        now,
        (project_statistics, project_transfers),
        name="transfer",
    )


async def run_transfer_timer(
    pool: asyncpg.Pool, store: EventStore, clock: Clock, interval: float, limit: int
) -> None:
    async def one_pass(now: datetime) -> int:
        return await expire_transfers(pool, store, now, limit)

    await run_timer("transfer", one_pass, clock, interval)
