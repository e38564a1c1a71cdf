"""What can be asked of a referral. One referral per need of a referral request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from services.referral.domain.routing import RoutingFacts, order_needs
from shared.events.base import Sealed
from shared.events.case import ConsentScope, ReferralRequested
from shared.events.referral import (
    AssignmentReason,
    DeclineReason,
    OutcomeReason,
    ServiceOutcome,
    UnmetReason,
    WithdrawalCause,
)
from shared.events.vocabulary import ServiceType, Urgency


def referral_id_for(request_id: str, need: str) -> str:
    """The referral id of one need: the same for a redelivered request."""
    return str(uuid.uuid5(uuid.UUID(request_id), need))


@dataclass(frozen=True)
class OpenReferral:
    """Route a need of a request for the first time."""

    referral_id: str
    request_id: str
    case_id: str
    need: ServiceType
    urgency: Urgency
    facts: RoutingFacts
    consent: ConsentScope
    emergency_without_consent: bool


def open_referrals(request: ReferralRequested, case_id: str) -> list[OpenReferral]:
    """One ``OpenReferral`` per need, life-and-safety needs first when urgent.

    ``case_id`` is the request's stream id (the envelope's subject), not a field.
    """
    facts = RoutingFacts(
        categories=tuple(request.categories),
        region=request.region,
        district=request.district,
        sex=request.sex,
        age_band=request.age_band,
        language=request.language,
        disability=request.disability,
        interpreter_needed=request.interpreter_needed,
    )
    return [
        OpenReferral(
            referral_id=referral_id_for(request.referral_id, need),
            request_id=request.referral_id,
            case_id=case_id,
            need=need,
            urgency=request.urgency,
            facts=facts,
            consent=request.consent,
            emergency_without_consent=request.emergency_without_consent,
        )
        for need in order_needs(request.needs, request.urgency)
    ]


@dataclass(frozen=True)
class AcceptReferral:
    referral_id: str
    provider_id: str


@dataclass(frozen=True)
class DeclineReferral:
    referral_id: str
    provider_id: str
    reason_code: DeclineReason
    reason_note: Sealed | None = None  # sealed by the caller; never free text in clear


@dataclass(frozen=True)
class StartService:
    referral_id: str
    provider_id: str


@dataclass(frozen=True)
class CompleteService:
    referral_id: str
    provider_id: str


@dataclass(frozen=True)
class RecordOutcome:
    """The provider holding an accepted or in-service referral (or the one that completed
    it) says how the service ended."""

    referral_id: str
    provider_id: str
    outcome: ServiceOutcome
    reason_code: OutcomeReason | None = None


@dataclass(frozen=True)
class ConfirmOutcome:
    """The caseworker confirms the provider's outcome: the referral loop is closed."""

    referral_id: str
    confirmed_by: str


@dataclass(frozen=True)
class EscalateReferral:
    """Sent by the deadline timer. Harmless when early, late or repeated (see ``decide``)."""

    referral_id: str


@dataclass(frozen=True)
class AssignProvider:
    """A coordinator gives an unroutable referral to ``provider_id`` by hand."""

    referral_id: str
    provider_id: str
    reason_code: AssignmentReason
    assigned_by: str  # the coordinator's account subject


@dataclass(frozen=True)
class RerouteReferral:
    """A coordinator runs routing again on an unroutable referral (the directory changed)."""

    referral_id: str


@dataclass(frozen=True)
class CloseUnmet:
    """A coordinator decides that no provider exists for an unroutable referral's need:
    the need is left unmet, for a reason code, and the referral is finished."""

    referral_id: str
    reason_code: UnmetReason
    decided_by: str  # the coordinator's account subject


# How long a provider has to confirm a deletion, and then to answer the reminder.
DEFAULT_CONFIRM_WITHIN = timedelta(days=3)
DEFAULT_ESCALATE_WITHIN = timedelta(days=2)


@dataclass(frozen=True)
class WithdrawReferral:
    """Stop the referral and tell every provider that received it to delete what it holds
    (a completed referral too); ``confirm_within``: the time each has to confirm."""

    referral_id: str
    cause: WithdrawalCause
    confirm_within: timedelta = DEFAULT_CONFIRM_WITHIN


@dataclass(frozen=True)
class ConfirmDataDeleted:
    """A provider that was told to delete says it did."""

    referral_id: str
    provider_id: str


@dataclass(frozen=True)
class ChaseDataDeletion:
    """Sent by the deletion timer: remind, then escalate. Harmless early, late or twice."""

    referral_id: str
    escalate_within: timedelta = DEFAULT_ESCALATE_WITHIN


Command = (
    OpenReferral
    | AcceptReferral
    | DeclineReferral
    | StartService
    | CompleteService
    | EscalateReferral
    | WithdrawReferral
    | ConfirmDataDeleted
    | ChaseDataDeletion
    | AssignProvider
    | RerouteReferral
    | CloseUnmet
    | RecordOutcome
    | ConfirmOutcome
)
