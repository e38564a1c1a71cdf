"""State is a pure fold of events: ``evolve`` applies one, ``fold`` applies a stream.

``evolve`` does O(1) work per event whatever the case's size: nothing that grows with the
stream is copied (note ids are a ``NoteIds``, whose ``add`` shares structure), so loading
a case is linear in its events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from services.case.domain.due_dates import evolve_due_dates
from services.case.domain.emergency import evolve_emergency
from services.case.domain.errors import CorruptStream
from services.case.domain.person_evolve import evolve_person
from services.case.domain.plan import evolve_plan
from services.case.domain.reflection import evolve_reflection
from services.case.domain.state import Case, Consent, NoteIds, RequestedReferral
from services.case.domain.transfer import evolve_transfer
from shared.events.base import Event
from shared.events.case import (
    CaseAccessed,
    CaseClosed,
    CaseNoteAdded,
    CaseOpened,
    CaseReopened,
    CaseTransferred,
    ConsentGiven,
    ConsentWithdrawn,
    IdentificationRecorded,
    IdentityErased,
    NeedsAssessed,
    ReferralRequested,
    SurvivorProfileRecorded,
    SurvivorProfileUpdated,
)


def evolve(state: Case | None, event: Event) -> Case:
    """The case after ``event``. Events of types this code does not know leave it unchanged."""
    if state is None:
        if not isinstance(event, CaseOpened):
            raise CorruptStream(f"{event.name()} before CaseOpened")
        return Case(
            status="open",
            caseworker=event.caseworker,
            office=event.office,
            region=event.region,
            categories=tuple(event.categories),
        )
    if type(event) is CaseNoteAdded:  # most of a long case: no need to try every case below
        return _with_note_ids(state, state.note_ids.add(event.note_id))
    match event:
        case CaseOpened():
            raise CorruptStream("CaseOpened twice")
        case SurvivorProfileRecorded(profile=p) | SurvivorProfileUpdated(profile=p):
            return replace(state, profile=p, region=p.region, categories=tuple(p.categories))
        case NeedsAssessed():
            return replace(state, needs=tuple(event.needs))
        case IdentificationRecorded():
            return replace(state, identification=event.status, reopened_since_identification=False)
        case ConsentGiven():
            return replace(state, consents=(*state.consents, _consent(event)))
        case ConsentWithdrawn():
            return replace(state, consents=_withdraw(state.consents, event.consent_id))
        case ReferralRequested():
            requested = RequestedReferral(
                referral_id=event.referral_id,
                needs=tuple(event.needs),
                urgency=event.urgency,
                consent_id=event.consent.consent_id,
            )
            return replace(state, referrals=(*state.referrals, requested))
        case CaseNoteAdded():
            return _with_note_ids(state, state.note_ids.add(event.note_id))
        case CaseClosed():
            return replace(state, status="closed", close_reason=event.reason)
        case CaseReopened():
            return replace(
                state,
                status="open",
                close_reason=None,
                reopened_since_identification=state.identification is not None,
            )
        case CaseTransferred():
            return replace(state, caseworker=event.to_caseworker, office=event.to_office)
        case IdentityErased():
            return replace(state, identity_erased=True)
        case CaseAccessed():
            return state  # a read changes nothing; the event is the audit record
        case _:
            for other in (
                evolve_reflection,
                evolve_emergency,
                evolve_transfer,
                evolve_plan,
                evolve_due_dates,
            ):
                changed = other(state, event)
                if changed is not None:
                    return changed
            return evolve_person(state, event)


def fold(events: Iterable[Event]) -> Case | None:
    """The case a stream of events describes (None for an empty stream)."""
    state: Case | None = None
    for event in events:
        state = evolve(state, event)
    return state


def _with_note_ids(state: Case, note_ids: NoteIds) -> Case:
    """``replace(state, note_ids=note_ids)`` without running ``__init__`` again: notes are
    most of a long case's events, and ``replace`` costs several times this copy."""
    case = object.__new__(Case)
    vars(case).update(vars(state))
    object.__setattr__(case, "note_ids", note_ids)
    return case


def _consent(event: ConsentGiven) -> Consent:
    return Consent(
        consent_id=event.consent_id,
        purpose=event.purpose,
        service_types=tuple(event.service_types),
        provider_ids=tuple(event.provider_ids),
        data_categories=tuple(event.data_categories),
        given_by=event.given_by,
        expires_at=event.expires_at,
    )


def _withdraw(consents: tuple[Consent, ...], consent_id: str) -> tuple[Consent, ...]:
    return tuple(replace(c, withdrawn=True) if c.consent_id == consent_id else c for c in consents)
