"""How many places of each provider are taken, derived from referral events.

A place is taken from the moment a provider accepts a referral until the service is
completed or the referral is withdrawn. Routed-but-unanswered referrals take no place:
the provider decides when it answers, and may decline with ``no_capacity``. The
directory's ``capacity`` is the number of places (e.g. shelter beds); ``None`` = no limit.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.events.base import Event
from shared.events.referral import ReferralAccepted, ReferralWithdrawn, ServiceCompleted


@dataclass(frozen=True)
class CapacityLedger:
    """Which provider holds a place for which referral (accepted, not yet finished)."""

    holding: Mapping[str, str] = field(default_factory=dict)  # referral id -> provider id

    def in_use(self) -> dict[str, int]:
        return dict(Counter(self.holding.values()))


def evolve_capacity(ledger: CapacityLedger, event: Event) -> CapacityLedger:
    if isinstance(event, ReferralAccepted):
        return CapacityLedger({**ledger.holding, event.referral_id: event.provider_id})
    if isinstance(event, ServiceCompleted | ReferralWithdrawn):
        return CapacityLedger({k: v for k, v in ledger.holding.items() if k != event.referral_id})
    return ledger


def in_use(events: Iterable[Event]) -> dict[str, int]:
    """Places in use per provider id after these referral events (any order of streams)."""
    ledger = CapacityLedger()
    for event in events:
        ledger = evolve_capacity(ledger, event)
    return ledger.in_use()
