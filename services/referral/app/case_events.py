"""What the referral service does with case events (durable ``referral-case-events``).

Runs in the inbox transaction of ``shared.consumer``: the referrals a request opens, or
the withdrawals a closed case, a withdrawn consent or an erasure causes (each telling
every provider that received the referral to delete it), commit together with the inbox
row, so a redelivered event changes nothing (and the domain ignores a reopened request).
Every event that moves the case's scope (opening, transfer, the person's region, a
request) updates ``case_scope`` first, which decides who may read the case's referrals.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from services.referral.app.referrals import Referrals
from services.referral.domain.commands import (
    DEFAULT_CONFIRM_WITHIN,
    WithdrawReferral,
    open_referrals,
)
from shared.case_scope import SCOPE_EVENT_TYPES, CaseScopes
from shared.consumer import Apply
from shared.envelope import Actor, Envelope
from shared.events.base import Event
from shared.events.case import CaseClosed, ConsentWithdrawn, IdentityErased, ReferralRequested
from shared.events.referral import WithdrawalCause
from shared.migrations import quote_ident

CASE_EVENT_TYPES = tuple(
    sorted(
        {
            "ReferralRequested",
            "ConsentWithdrawn",
            "CaseClosed",
            "IdentityErased",
            *SCOPE_EVENT_TYPES,
        }
    )
)
SERVICE = Actor.service("referral")


def case_event_handler(
    referrals: Referrals,
    directory_ready: asyncio.Event,
    confirm_within: timedelta = DEFAULT_CONFIRM_WITHIN,
) -> Apply:
    """``confirm_within``: how long a provider told to delete has to confirm it."""
    scopes = CaseScopes(referrals.store.schema)
    within = confirm_within
    follow_ups = f"{quote_ident(referrals.store.schema)}.referral_follow_up"

    async def apply(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
        # Routing before the directory file is imported would find no provider at all.
        await directory_ready.wait()
        case_id = env.subject
        await scopes.record(conn, case_id, env.streamversion, event)
        if isinstance(event, ReferralRequested):
            origin = {"office": event.office, "caseworker": event.caseworker}
            for command in open_referrals(event, case_id):
                if event.follows_up is not None:  # a follow-up service: keep the link
                    await conn.execute(
                        f"""INSERT INTO {follow_ups} (referral_id, case_id, follows_up)
                            VALUES ($1, $2, $3) ON CONFLICT (referral_id) DO NOTHING""",
                        command.referral_id,
                        case_id,
                        event.follows_up,
                    )
                await referrals.run(
                    conn,
                    command,
                    actor=SERVICE,
                    correlation_id=env.correlationid,
                    causation_id=env.id,
                    origin=origin,
                )
        elif isinstance(event, ConsentWithdrawn):
            await _withdraw(referrals, conn, env, "consent_withdrawn", event.consent_id, within)
        elif isinstance(event, CaseClosed):
            await _withdraw(referrals, conn, env, "case_closed", None, within)
        elif isinstance(event, IdentityErased):
            await _withdraw(referrals, conn, env, "identity_erased", None, within)

    return apply


async def _withdraw(
    referrals: Referrals,
    conn: asyncpg.Connection,
    env: Envelope,
    cause: WithdrawalCause,
    consent_id: str | None,
    confirm_within: timedelta,
) -> None:
    projection = referrals.projection
    for referral_id in await projection.withdrawable_of_case(conn, env.subject, consent_id):
        await referrals.run(
            conn,
            WithdrawReferral(referral_id, cause, confirm_within),
            actor=SERVICE,
            correlation_id=env.correlationid,
            causation_id=env.id,
        )
