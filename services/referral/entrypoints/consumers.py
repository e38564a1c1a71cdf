"""The referral service's NATS consumer: case events open, withdraw and re-scope referrals
(see ``app/case_events.py``)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from services.referral.app.case_events import CASE_EVENT_TYPES, case_event_handler
from services.referral.app.referrals import Referrals
from services.referral.domain.commands import DEFAULT_CONFIRM_WITHIN
from shared.consumer import IdempotentConsumer
from shared.runtime import Runtime

CASE_CONSUMER = "referral-case-events"


def subscribe_case_events(
    rt: Runtime,
    referrals: Referrals,
    ready: asyncio.Event,
    confirm_within: timedelta = DEFAULT_CONFIRM_WITHIN,
) -> None:
    """Case events, applied once each; they wait for ``ready`` (the directory imported).
    ``confirm_within``: how long a provider told to delete has to confirm it."""
    consumer = IdempotentConsumer(
        rt.pool,
        rt.store.schema,
        CASE_CONSUMER,
        case_event_handler(referrals, ready, confirm_within),
        types=CASE_EVENT_TYPES,
        description=(
            "Referral requests are routed; a closed case, a withdrawn consent or an erasure"
            " withdraws its referrals and tells every provider that received one to delete"
            " it; profile and transfer events keep each case's scope."
        ),
    )
    rt.consume(consumer, "case")
