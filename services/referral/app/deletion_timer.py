"""The deletion timer: chase providers that have not confirmed deleting a withdrawn referral.

When the referral was withdrawn, every provider that received it was told to delete what
it holds (``DataDeletionRequested``, with a ``confirm_by``). Whoever has not confirmed by
then is reminded once (``DataDeletionReminded``, with an ``escalate_by``); whoever is still
silent then is escalated once to the coordinator (``DataDeletionEscalated``). The next due
time lives in ``referral_view.deletion_due_at`` (from the events), so a restart neither
loses nor repeats a step; the domain ignores a step that is not due or already done, and
the expected-version append makes two instances racing on one referral write it once.
It runs under its own lease (one replica), like the escalation timer.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from services.referral.app.referrals import Referrals
from services.referral.domain.commands import ChaseDataDeletion
from services.referral.domain.errors import ReferralError
from shared.envelope import Actor
from shared.eventstore import ConcurrencyError
from shared.ids import uuid7
from shared.logging import get_logger

log = get_logger("safepath.referral.deletion")


async def chase_due_deletions(
    pool: asyncpg.Pool, referrals: Referrals, escalate_within: timedelta, limit: int = 100
) -> int:
    """One pass: remind or escalate every deletion due now; the number of steps taken."""
    now = referrals.clock()
    steps = 0
    for referral_id in await referrals.projection.deletion_due(pool, now, limit):
        try:
            async with pool.acquire() as conn, conn.transaction():
                outcome = await referrals.run(
                    conn,
                    ChaseDataDeletion(referral_id, escalate_within),
                    actor=Actor.service("referral"),
                    correlation_id=str(uuid7()),
                    now=now,
                )
        except ConcurrencyError:
            continue  # another instance, or a provider's confirmation, got there first
        except ReferralError as e:
            log.error("deletion_chase_refused", referral_id=referral_id, code=e.code)
            continue
        for event in outcome.events:
            steps += 1
            log.info("data_deletion_chased", referral_id=referral_id, step=event.name())
    return steps


async def run_deletion_timer(
    pool: asyncpg.Pool,
    referrals: Referrals,
    escalate_within: timedelta,
    interval: float,
    limit: int,
) -> None:
    while True:
        try:
            await chase_due_deletions(pool, referrals, escalate_within, limit)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # keep the timer alive through a database outage
            log.warning("deletion_pass_failed", error=type(e).__name__)
        await asyncio.sleep(interval)
