"""The case's rules: ``decide(state, command, now)`` turns a command into new events.

Pure: no clock (``now`` is passed in), no ids invented (commands carry them), no I/O.
A refused command raises a ``DomainError`` and decides nothing.
"""

from __future__ import annotations

import re
from datetime import datetime

from services.case.domain.commands import (
    AddNote,
    AssessNeeds,
    CaseCommand,
    CloseCase,
    EraseIdentity,
    GiveConsent,
    OpenCase,
    RecordAccess,
    RecordIdentification,
    RecordProfile,
    ReopenCase,
    RequestReferral,
    TransferCase,
    UpdateProfile,
    WithdrawConsent,
)
from services.case.domain.due_dates import ChaseDueDates, decide_due_dates
from services.case.domain.emergency import BreakGlass, decide_emergency
from services.case.domain.errors import (
    CaseAlreadyExists,
    CaseClosedError,
    CaseNotFound,
    ConsentAlreadyExists,
    ConsentAlreadyWithdrawn,
    ConsentNotFound,
    IdentityErasedError,
    InvalidConsent,
    InvalidTransition,
    NoteAlreadyAdded,
    ProfileAlreadyRecorded,
    ProfileRequired,
)
from services.case.domain.identification import check_identification
from services.case.domain.person import (
    ALLOWED_WHEN_CLOSED as PERSON_WHEN_CLOSED,
)
from services.case.domain.person import (
    ALLOWED_WHEN_ERASED as PERSON_WHEN_ERASED,
)
from services.case.domain.person import PersonCommand, decide_person
from services.case.domain.plan import SetFollowUp, SetPlanGoal, decide_follow_up, decide_plan
from services.case.domain.referral import request_referral
from services.case.domain.reflection import (
    ChaseReflectionPeriod,
    ReflectionCommand,
    decide_reflection,
    with_identification,
)
from services.case.domain.state import Case
from services.case.domain.transfer import (
    AcceptTransfer,
    CancelTransfer,
    ExpireTransfer,
    RefuseTransfer,
    RequestTransfer,
    decide_transfer,
)
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
    SurvivorProfileRecorded,
    SurvivorProfileUpdated,
)

# A closed case still honours a withdrawal, an erasure and the audit of reads.
_ALLOWED_WHEN_CLOSED = (
    ReopenCase,
    WithdrawConsent,
    EraseIdentity,
    RecordAccess,
    ChaseReflectionPeriod,  # ends a period still running (domain/reflection.py)
    ChaseDueDates,  # decides nothing on a closed case (domain/due_dates.py)
    BreakGlass,  # an emergency may concern a closed case too
    CancelTransfer,  # a request still pending when the case closed can be withdrawn
    ExpireTransfer,  # or lapse
    *PERSON_WHEN_CLOSED,
)
# After erasure nothing new is recorded about the person; the case can only be wound down.
_ALLOWED_WHEN_ERASED = (
    CloseCase,
    WithdrawConsent,
    RecordAccess,
    ChaseReflectionPeriod,
    ChaseDueDates,
    ExpireTransfer,
    *PERSON_WHEN_ERASED,
)


def decide(state: Case | None, command: CaseCommand, now: datetime) -> list[Event]:
    """The events ``command`` causes on the case ``state`` (None: no such case yet)."""
    if state is None:
        if isinstance(command, OpenCase):
            return _open(command)
        raise CaseNotFound()
    if isinstance(command, OpenCase):
        raise CaseAlreadyExists()
    action = _action(command)
    if state.identity_erased and not isinstance(command, _ALLOWED_WHEN_ERASED):
        raise IdentityErasedError(action)
    if state.is_closed and not isinstance(command, _ALLOWED_WHEN_CLOSED):
        raise CaseClosedError(action)
    return _decide_open(state, command, now)


def _decide_open(state: Case, command: CaseCommand, now: datetime) -> list[Event]:
    if isinstance(command, PersonCommand):
        return decide_person(state, command)
    if isinstance(command, ReflectionCommand):
        return decide_reflection(state, command, now)
    if isinstance(command, BreakGlass):
        return decide_emergency(state, command, now)
    if isinstance(command, SetPlanGoal):
        return decide_plan(state, command, now)
    if isinstance(command, SetFollowUp):
        return decide_follow_up(state, command, now)
    if isinstance(command, ChaseDueDates):
        return decide_due_dates(state, command, now)
    if isinstance(
        command,
        RequestTransfer | AcceptTransfer | RefuseTransfer | CancelTransfer | ExpireTransfer,
    ):
        return decide_transfer(state, command, now)
    match command:
        case RecordProfile():
            if state.profile is not None:
                raise ProfileAlreadyRecorded()
            return [SurvivorProfileRecorded(profile=command.profile)]
        case UpdateProfile():
            if state.profile is None:
                raise ProfileRequired("update the profile")
            if command.profile == state.profile:
                return []  # nothing changed: nothing to record
            return [SurvivorProfileUpdated(profile=command.profile)]
        case AssessNeeds():
            return [NeedsAssessed(needs=command.needs, note=command.note)]
        case RecordIdentification():
            check_identification(state, command.status)
            recorded = IdentificationRecorded(
                status=command.status,
                basis=command.basis,
                deciding_agency=command.deciding_agency,
                note=command.note,
            )
            reflection = with_identification(
                state,
                command.status,
                now,
                period_days=command.reflection_days,
                reason_code=command.reason_code,
                decided_by_supervisor=command.supervisor,
            )
            return [recorded, *reflection]
        case GiveConsent():
            return [_give_consent(state, command, now)]
        case WithdrawConsent():
            return [_withdraw_consent(state, command)]
        case RequestReferral():
            return [request_referral(state, command, now)]
        case AddNote():
            if command.note_id in state.note_ids:
                raise NoteAlreadyAdded(command.note_id)
            return [CaseNoteAdded(note_id=command.note_id, note=command.note)]
        case CloseCase():
            return [CaseClosed(reason=command.reason, note=command.note)]
        case ReopenCase():
            if not state.is_closed:
                raise InvalidTransition("the case is open: only a closed case can be reopened")
            return [CaseReopened(reason=command.reason, note=command.note)]
        case TransferCase():
            return [_transfer(state, command)]
        case EraseIdentity():
            return [IdentityErased(erased_by=command.erased_by, reason_code=command.reason_code)]
        case RecordAccess():
            return [
                CaseAccessed(
                    who=command.who,
                    role=command.role,
                    fields=command.fields,
                    endpoint=command.endpoint,
                )
            ]
        case _:  # OpenCase is handled by decide
            raise CaseAlreadyExists()


def _open(command: OpenCase) -> list[Event]:
    events: list[Event] = [
        CaseOpened(
            caseworker=command.caseworker,
            office=command.office,
            region=command.region,
            categories=command.categories,
        )
    ]
    if command.profile is not None:
        events.append(SurvivorProfileRecorded(profile=command.profile))
    return events


def _give_consent(state: Case, command: GiveConsent, now: datetime) -> ConsentGiven:
    if state.consent(command.consent_id) is not None:
        raise ConsentAlreadyExists(command.consent_id)
    if command.expires_at is not None and command.expires_at <= now:
        raise InvalidConsent("the consent would already have expired")
    if not command.service_types and not command.provider_ids:
        raise InvalidConsent("a consent must name recipient service types or provider ids")
    if not command.data_categories:
        raise InvalidConsent("a consent must name the data categories it lets us share")
    return ConsentGiven(
        consent_id=command.consent_id,
        purpose=command.purpose,
        service_types=command.service_types,
        provider_ids=command.provider_ids,
        data_categories=command.data_categories,
        given_by=command.given_by,
        expires_at=command.expires_at,
    )


def _withdraw_consent(state: Case, command: WithdrawConsent) -> ConsentWithdrawn:
    consent = state.consent(command.consent_id)
    if consent is None:
        raise ConsentNotFound(command.consent_id)
    if consent.withdrawn:
        raise ConsentAlreadyWithdrawn(command.consent_id)
    return ConsentWithdrawn(consent_id=command.consent_id, reason_code=command.reason_code)


def _transfer(state: Case, command: TransferCase) -> CaseTransferred:
    if command.to_caseworker is None and command.to_office is None:
        raise InvalidTransition("a transfer names a caseworker, an office or both")
    to_caseworker = command.to_caseworker or state.caseworker
    to_office = command.to_office or state.office
    if (to_caseworker, to_office) == (state.caseworker, state.office):
        raise InvalidTransition("the case is already with this caseworker and office")
    return CaseTransferred(
        from_caseworker=state.caseworker,
        to_caseworker=to_caseworker,
        from_office=state.office,
        to_office=to_office,
    )


def _action(command: CaseCommand) -> str:
    """A short, data-free description of the command for error messages."""
    return re.sub(r"(?<!^)(?=[A-Z])", " ", type(command).__name__).lower()
