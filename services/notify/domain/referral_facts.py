"""What notify may know about a referral, read from the referral service's typed events.

The events are the shared models of ``shared/events/referral.py`` (the contract the
referral service publishes, checked against its schema before notify sees it), so a
renamed field is a type error here, not a silently missing value.

A routing attempt (``ReferralRouted``, ``ReferralUnroutable``) carries every fact. An
answer, an escalation or a completion carries only the referral, the case and the
provider: its facts are those of the referral's last attempt (kept by the caller), with
its own provider.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.events.base import Event
from shared.events.referral import (
    DataDeletionEscalated,
    DataDeletionReminded,
    DataDeletionRequested,
    ReferralAccepted,
    ReferralClosedUnmet,
    ReferralDeclined,
    ReferralEscalated,
    ReferralRouted,
    ReferralUnroutable,
    ServiceCompleted,
    ServiceOutcomeRecorded,
)

RoutingAttempt = ReferralRouted | ReferralUnroutable
Answer = (
    ReferralAccepted
    | ReferralDeclined
    | ReferralEscalated
    | ServiceCompleted
    | ServiceOutcomeRecorded
)
# After a withdrawal: the providers to tell (or chase), by id; the facts are the last attempt's.
Deletion = DataDeletionRequested | DataDeletionReminded | DataDeletionEscalated

# The referral events somebody hears about (``recipients.who_hears_what``).
NOTIFIED_EVENTS: tuple[type[Event], ...] = (
    ReferralRouted,
    ReferralUnroutable,
    ReferralEscalated,
    ReferralAccepted,
    ReferralDeclined,
    ServiceCompleted,
    ServiceOutcomeRecorded,
    ReferralClosedUnmet,
    DataDeletionRequested,
    DataDeletionReminded,
    DataDeletionEscalated,
)


@dataclass(frozen=True)
class ReferralFacts:
    """What notify may know about a referral. Values are checked again by the payload
    builder against the shared vocabulary before they leave (defence in depth)."""

    referral_id: str
    case_id: str
    needs: tuple[str, ...]
    urgency: str
    categories: tuple[str, ...]
    region: str
    district: str | None
    sex: str
    age_band: str
    language: str
    disability: bool
    provider_id: str | None
    coordinator_ids: tuple[str, ...] = ()
    unmet_reason: str | None = None  # a need left unmet: the coordinator's reason code


def facts_of_attempt(event: RoutingAttempt) -> ReferralFacts:
    """Every fact of a routing attempt: the chosen provider, or the coordinator it names."""
    provider_id: str | None = None
    coordinator_ids: tuple[str, ...] = ()
    if isinstance(event, ReferralRouted):
        provider_id = event.provider_id
    else:
        coordinator_ids = (event.coordinator_id,)
    return ReferralFacts(
        referral_id=event.referral_id,
        case_id=event.case_id,
        needs=(event.need,),
        urgency=event.urgency,
        categories=tuple(event.categories),
        region=event.region,
        district=event.district,
        sex=event.sex,
        age_band=event.age_band,
        language=event.language,
        disability=event.disability,
        provider_id=provider_id,
        coordinator_ids=coordinator_ids,
    )


def facts_of_answer(event: Answer, attempt: ReferralFacts) -> ReferralFacts:
    """The facts of ``event``: those of the referral's last ``attempt``, with its provider."""
    return replace(
        attempt,
        referral_id=event.referral_id,
        case_id=event.case_id,
        provider_id=event.provider_id,
        coordinator_ids=(),
    )


def facts_of_unmet(event: ReferralClosedUnmet, attempt: ReferralFacts) -> ReferralFacts:
    """The facts of a need left unmet: the last attempt's, with the coordinator's reason;
    nobody holds the referral."""
    return replace(
        attempt,
        referral_id=event.referral_id,
        case_id=event.case_id,
        provider_id=None,
        coordinator_ids=(),
        unmet_reason=event.reason_code,
    )


def facts_of_deletion(event: Deletion, attempt: ReferralFacts) -> ReferralFacts:
    """The facts of a deletion step: the last attempt's, addressed to nobody in particular
    (the event names the providers) or to the coordinator the escalation names."""
    coordinators: tuple[str, ...] = ()
    if isinstance(event, DataDeletionEscalated) and event.coordinator_id is not None:
        coordinators = (event.coordinator_id,)
    return replace(
        attempt,
        referral_id=event.referral_id,
        case_id=event.case_id,
        provider_id=None,
        coordinator_ids=coordinators,
    )
