"""The case service's NATS consumers: referral statuses and the other services' events,
for the case's history (see ``app/timeline.py``)."""

from __future__ import annotations

from services.case.app.timeline import NOTIFY_EVENTS, apply_notify_event, apply_referral_event
from shared.consumer import IdempotentConsumer
from shared.runtime import Runtime


def subscribe_timeline(rt: Runtime) -> None:
    """The case learns referral statuses and the other services' events for its history."""
    for service, name, apply, types, description in (
        (
            "referral",
            "case-referral-events",
            apply_referral_event,
            None,
            "Every referral event goes on its case's timeline; lifecycle events set the"
            " status of each need's referral.",
        ),
        (
            "notify",
            "case-notify-events",
            apply_notify_event,
            NOTIFY_EVENTS,
            "Who was notified of a case's referrals, and whether it reached them.",
        ),
    ):
        consumer = IdempotentConsumer(
            rt.pool, "case", name, apply, types=types, description=description
        )
        rt.consume(consumer, service)
