"""The deadline timer: escalate referrals whose provider did not answer in time.

Deadlines live in ``referral_view.respond_by`` (from the ``ReferralRouted`` event), so a
restart neither loses nor repeats one: after a restart the next pass finds what is due.
Each escalation is its own transaction; the domain ignores an escalation that is not due
(answered meanwhile, already escalated), and the expected-version append makes two
scanners (two instances) racing on one referral write it once.
"""

from __future__ import annotations

import asyncio

import asyncpg

from services.referral.app import metrics as _metrics  # noqa: F401 (its /metrics probe)
from services.referral.app.referrals import Referrals
from services.referral.domain.commands import EscalateReferral
from services.referral.domain.errors import ReferralError
from shared.envelope import Actor
from shared.eventstore import ConcurrencyError
from shared.ids import uuid7
from shared.logging import get_logger
from shared.metrics import ESCALATIONS
from shared.migrations import quote_ident
from shared.tracing import continuing

log = get_logger("safepath.referral.escalation")


async def escalate_due(pool: asyncpg.Pool, referrals: Referrals, limit: int = 100) -> int:
    """One pass: escalate every referral due now; the number escalated."""
    now = referrals.clock()
    escalated = 0
    for referral_id in await referrals.projection.due(pool, now, limit):
        try:
            async with pool.acquire() as conn, conn.transaction():
                # The escalation continues the referral's trace (shared/tracing.py).
                parent = await _trace_of(conn, referrals, referral_id)
                with continuing("referral", "referral escalate", parent):
                    outcome = await referrals.run(
                        conn,
                        EscalateReferral(referral_id),
                        actor=Actor.service("referral"),
                        correlation_id=str(uuid7()),
                        now=now,
                    )
        except ConcurrencyError:
            continue  # another scanner or a provider's answer got there first
        except ReferralError as e:  # e.g. no coordinator: the others are still escalated
            log.error("escalation_refused", referral_id=referral_id, code=e.code)
            continue
        if outcome.events:
            escalated += 1
            ESCALATIONS.labels(getattr(outcome.state, "urgency", "unknown")).inc()
            log.info("referral_escalated", referral_id=referral_id, attempt=outcome.version)
    return escalated


async def _trace_of(
    conn: asyncpg.Connection, referrals: Referrals, referral_id: str
) -> dict[str, str | None]:
    """The trace fields of the referral's last event (empty when it was not traced)."""
    row = await conn.fetchrow(
        "SELECT metadata->>'traceparent' AS traceparent, metadata->>'tracestate' AS tracestate"
        f" FROM {quote_ident(referrals.store.schema)}.event WHERE stream_id = $1"
        " ORDER BY stream_version DESC LIMIT 1",
        referral_id,
    )
    return dict(row) if row is not None else {}


async def run_escalation(
    pool: asyncpg.Pool, referrals: Referrals, interval: float, limit: int
) -> None:
    while True:
        try:
            await escalate_due(pool, referrals, limit)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # keep the timer alive through a database outage
            log.warning("escalation_pass_failed", error=type(e).__name__)
        await asyncio.sleep(interval)
