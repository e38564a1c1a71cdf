"""Referral state as a fold of its events. No I/O, no clock."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from services.referral.domain.routing import RoutingFacts
from services.referral.domain.state import Deletion, Referral
from shared.events.base import Event
from shared.events.referral import (
    DataDeletionConfirmed,
    DataDeletionEscalated,
    DataDeletionReminded,
    DataDeletionRequested,
    OutcomeConfirmed,
    ReferralAccepted,
    ReferralClosedUnmet,
    ReferralDeclined,
    ReferralEscalated,
    ReferralRouted,
    ReferralUnroutable,
    ReferralWithdrawn,
    ServiceCompleted,
    ServiceOutcomeRecorded,
    ServiceStarted,
)


def evolve(state: Referral | None, event: Event) -> Referral:
    """The referral after ``event``. Events of other types leave it as it was."""
    if isinstance(event, ReferralRouted | ReferralUnroutable):
        return _attempted(state, event)
    if state is None:
        raise ValueError(f"{event.name()} before the referral was routed")
    if isinstance(event, ReferralAccepted):
        return replace(state, status="accepted", respond_by=None)
    if isinstance(event, ReferralDeclined | ReferralEscalated):
        # A routing attempt always follows; until then nobody holds the referral.
        return replace(state, provider_id=None, respond_by=None)
    if isinstance(event, ServiceStarted):
        return replace(state, status="in_service")
    if isinstance(event, ServiceCompleted):
        return replace(state, status="completed")
    if isinstance(event, ServiceOutcomeRecorded):
        return replace(
            state, status="completed", outcome=event.outcome, outcome_reason=event.reason_code
        )
    if isinstance(event, OutcomeConfirmed):
        return replace(state, outcome_confirmed=True)
    if isinstance(event, ReferralClosedUnmet):
        return replace(state, status="unmet", unmet_reason=event.reason_code, respond_by=None)
    if isinstance(event, ReferralWithdrawn):
        return replace(state, status="withdrawn", respond_by=None)
    if isinstance(event, DataDeletionRequested):
        deletion = Deletion(
            cause=event.cause,
            requested=frozenset(event.provider_ids),
            confirmed=frozenset(),
            confirm_by=event.confirm_by,
        )
        return replace(state, deletion=deletion)
    if state.deletion is not None:
        return replace(state, deletion=_deletion_after(state.deletion, event))
    return state


def _deletion_after(deletion: Deletion, event: Event) -> Deletion:
    if isinstance(event, DataDeletionConfirmed):
        return replace(deletion, confirmed=deletion.confirmed | {event.provider_id})
    if isinstance(event, DataDeletionReminded):
        return replace(deletion, escalate_by=event.escalate_by)
    if isinstance(event, DataDeletionEscalated):
        return replace(deletion, escalated=True)
    return deletion


def replay(events: Iterable[Event]) -> Referral | None:
    state: Referral | None = None
    for event in events:
        state = evolve(state, event)
    return state


def _attempted(state: Referral | None, event: ReferralRouted | ReferralUnroutable) -> Referral:
    tried = state.tried if state is not None else frozenset()
    routed = isinstance(event, ReferralRouted)
    return Referral(
        referral_id=event.referral_id,
        request_id=event.request_id,
        case_id=event.case_id,
        need=event.need,
        urgency=event.urgency,
        facts=RoutingFacts(
            categories=tuple(event.categories),
            region=event.region,
            district=event.district,
            sex=event.sex,
            age_band=event.age_band,
            language=event.language,
            disability=event.disability,
            interpreter_needed=event.interpreter_needed,
        ),
        consent=event.consent,
        emergency_without_consent=event.emergency_without_consent,
        status="awaiting_answer" if routed else "unroutable",
        provider_id=event.provider_id if isinstance(event, ReferralRouted) else None,
        attempt=event.attempt,
        tried=tried | {event.provider_id} if isinstance(event, ReferralRouted) else tried,
        respond_by=event.respond_by if isinstance(event, ReferralRouted) else None,
        coordinator_id=event.coordinator_id if isinstance(event, ReferralUnroutable) else None,
        deletion=state.deletion if state is not None else None,
    )
