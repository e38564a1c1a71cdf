"""A referral as its events leave it. ``None`` stands for a referral not yet opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from services.referral.domain.routing import RoutingFacts
from shared.events.case import ConsentScope
from shared.events.referral import UnmetReason, WithdrawalCause
from shared.events.vocabulary import ServiceType, Urgency

Status = Literal[
    "awaiting_answer",  # routed to provider_id, who must answer by respond_by
    "accepted",
    "in_service",
    "completed",
    "unroutable",  # no provider left: the coordinator has it
    "withdrawn",
    "unmet",  # the coordinator decided no provider exists for the need (a recorded reason)
]
FINISHED: frozenset[Status] = frozenset({"completed", "withdrawn", "unmet"})


@dataclass(frozen=True)
class Deletion:
    """After a withdrawal: which providers must delete what they hold, and who has said so.

    One reminder (at ``confirm_by``), then one escalation to the coordinator (at
    ``escalate_by``) about those still silent.
    """

    cause: WithdrawalCause
    requested: frozenset[str]  # every provider told to delete
    confirmed: frozenset[str]
    confirm_by: datetime
    escalate_by: datetime | None = None  # set by the reminder
    escalated: bool = False

    @property
    def pending(self) -> frozenset[str]:
        return self.requested - self.confirmed

    @property
    def next_due(self) -> datetime | None:
        """When the deletion timer must look at this referral next (None: never again)."""
        if not self.pending or self.escalated:
            return None
        return self.escalate_by if self.escalate_by is not None else self.confirm_by


@dataclass(frozen=True)
class Referral:
    referral_id: str
    request_id: str
    case_id: str
    need: ServiceType
    urgency: Urgency
    facts: RoutingFacts
    consent: ConsentScope
    emergency_without_consent: bool
    status: Status
    provider_id: str | None  # the provider holding it (after completion: the one that served)
    attempt: int  # routing attempts so far
    tried: frozenset[str]  # every provider it was ever routed to
    respond_by: datetime | None  # set while awaiting an answer
    coordinator_id: str | None  # set when unroutable
    deletion: Deletion | None = None  # set once withdrawn providers were told to delete
    outcome: str | None = None  # the provider's outcome (delivered, partly, not delivered)
    outcome_reason: str | None = None
    outcome_confirmed: bool = False  # the caseworker confirmed it: the loop is closed
    unmet_reason: UnmetReason | None = None  # set when the coordinator closed it unmet

    @property
    def is_open(self) -> bool:
        return self.status not in FINISHED
