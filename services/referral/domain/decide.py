"""Referral decisions: (state, command, now, directory, SLAs) -> new events. No I/O.

Routing attempts share one path (``_route_attempt``): the first routing, the re-routing
after a decline and the re-routing after an unanswered deadline. Every provider ever tried
is excluded, so no provider receives the same referral twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import get_args

from services.referral.domain.commands import (
    AcceptReferral,
    AssignProvider,
    ChaseDataDeletion,
    CloseUnmet,
    Command,
    ConfirmDataDeleted,
    ConfirmOutcome,
    DeclineReferral,
    EscalateReferral,
    OpenReferral,
    RecordOutcome,
    RerouteReferral,
    StartService,
    WithdrawReferral,
)
from services.referral.domain.directory_view import DirectoryView
from services.referral.domain.errors import (
    CannotAssign,
    InvalidTransition,
    NoCoordinator,
    NotAssignedProvider,
    OutcomeReasonRequired,
    ProviderNotInDirectory,
    ReferralAlreadyOpened,
    ReferralNotFound,
)
from services.referral.domain.routing import (
    RoutingFacts,
    consent_basis,
    coordinator_for,
    failed_rules,
    interpreter_needed,
    interpreter_phrase,
    proximity,
    route,
)
from services.referral.domain.sla import DEFAULT_SLAS, Slas
from services.referral.domain.state import Referral, Status
from shared.events.base import Event
from shared.events.case import ConsentScope
from shared.events.referral import (
    DataDeletionConfirmed,
    DataDeletionEscalated,
    DataDeletionReminded,
    DataDeletionRequested,
    OutcomeConfirmed,
    ReferralAccepted,
    ReferralAssignedByHand,
    ReferralClosedUnmet,
    ReferralDeclined,
    ReferralEscalated,
    ReferralRouted,
    ReferralUnroutable,
    ReferralWithdrawn,
    RoutingReasons,
    Rule,
    ServiceCompleted,
    ServiceOutcomeRecorded,
    ServiceStarted,
)
from shared.events.vocabulary import ServiceType, Urgency


def decide(
    state: Referral | None,
    command: Command,
    now: datetime,
    directory: DirectoryView,
    slas: Slas = DEFAULT_SLAS,
) -> list[Event]:
    """The events ``command`` produces, or a ``ReferralError``.

    ``directory`` is the view at ``now`` (with places in use); ``slas`` the answer time per
    urgency. Opening an already-open referral of the same request, withdrawing a finished
    one, and escalating one that is answered or not yet due all produce nothing, so
    redelivered messages and timers firing twice are harmless.
    """
    if isinstance(command, OpenReferral):
        return _open(state, command, now, directory, slas)
    if state is None or state.referral_id != command.referral_id:
        raise ReferralNotFound(command.referral_id)
    if isinstance(command, EscalateReferral):
        return _escalate(state, now, directory, slas)
    if isinstance(command, WithdrawReferral):
        return _withdraw(state, command, now)
    if isinstance(command, ChaseDataDeletion):
        return _chase_deletion(state, command, now, directory)
    if isinstance(command, ConfirmDataDeleted):
        return _confirm_deleted(state, command)
    if isinstance(command, RerouteReferral):
        _require(state, "unroutable", "re-route")
        return [_next_attempt(state, now, directory, slas)]
    if isinstance(command, AssignProvider):
        return _assign_by_hand(state, command, now, directory, slas)
    if isinstance(command, CloseUnmet):
        # Only from unroutable: a referral a provider holds is answered or escalated first
        # (an unanswered one is re-routed, and comes back here if nobody else can take it).
        _require(state, "unroutable", "close as unmet")
        return [
            ReferralClosedUnmet(
                referral_id=state.referral_id,
                case_id=state.case_id,
                need=state.need,
                reason_code=command.reason_code,
                decided_by=command.decided_by,
                coordinator_id=state.coordinator_id,
            )
        ]
    if isinstance(command, ConfirmOutcome):
        if state.outcome is None or state.outcome_confirmed:
            action = "confirm the outcome of"
            raise InvalidTransition(state.referral_id, state.status, action)
        return [
            OutcomeConfirmed(
                referral_id=state.referral_id,
                case_id=state.case_id,
                confirmed_by=command.confirmed_by,
            )
        ]
    if isinstance(command, RecordOutcome):
        return _record_outcome(state, command)
    if state.provider_id != command.provider_id:
        raise NotAssignedProvider(state.referral_id, command.provider_id)
    if isinstance(command, AcceptReferral):
        _require(state, "awaiting_answer", "accept")
        return [
            ReferralAccepted(
                referral_id=state.referral_id,
                case_id=state.case_id,
                provider_id=command.provider_id,
            )
        ]
    if isinstance(command, DeclineReferral):
        _require(state, "awaiting_answer", "decline")
        declined = ReferralDeclined(
            referral_id=state.referral_id,
            case_id=state.case_id,
            provider_id=command.provider_id,
            reason_code=command.reason_code,
            reason_note=command.reason_note,
        )
        return [declined, _next_attempt(state, now, directory, slas)]
    if isinstance(command, StartService):
        _require(state, "accepted", "start service on")
        return [
            ServiceStarted(
                referral_id=state.referral_id,
                case_id=state.case_id,
                provider_id=command.provider_id,
            )
        ]
    _require(state, "in_service", "complete service on")
    return [
        ServiceCompleted(
            referral_id=state.referral_id, case_id=state.case_id, provider_id=command.provider_id
        )
    ]


def consent_in_force(consent: ConsentScope, now: datetime) -> ConsentScope:
    """The consent as it stands at ``now``: once expired it covers no one."""
    if consent.expires_at is not None and now >= consent.expires_at:
        return consent.model_copy(update={"service_types": [], "provider_ids": []})
    return consent


def _open(
    state: Referral | None,
    command: OpenReferral,
    now: datetime,
    directory: DirectoryView,
    slas: Slas,
) -> list[Event]:
    if state is not None:
        if state.request_id == command.request_id:
            return []  # the same request delivered again
        raise ReferralAlreadyOpened(command.referral_id)
    return [
        _route_attempt(
            referral_id=command.referral_id,
            request_id=command.request_id,
            case_id=command.case_id,
            need=command.need,
            urgency=command.urgency,
            facts=command.facts,
            consent=command.consent,
            emergency_without_consent=command.emergency_without_consent,
            tried=frozenset(),
            attempt=1,
            now=now,
            directory=directory,
            slas=slas,
        )
    ]


def _escalate(state: Referral, now: datetime, directory: DirectoryView, slas: Slas) -> list[Event]:
    if state.status != "awaiting_answer" or state.respond_by is None or now < state.respond_by:
        return []  # answered, already escalated, or not yet due
    assert state.provider_id is not None  # awaiting an answer means someone holds it
    escalated = ReferralEscalated(
        referral_id=state.referral_id,
        case_id=state.case_id,
        provider_id=state.provider_id,
        deadline=state.respond_by,
    )
    return [escalated, _next_attempt(state, now, directory, slas)]


def _next_attempt(state: Referral, now: datetime, directory: DirectoryView, slas: Slas) -> Event:
    return _route_attempt(
        referral_id=state.referral_id,
        request_id=state.request_id,
        case_id=state.case_id,
        need=state.need,
        urgency=state.urgency,
        facts=state.facts,
        consent=state.consent,
        emergency_without_consent=state.emergency_without_consent,
        tried=state.tried,
        attempt=state.attempt + 1,
        now=now,
        directory=directory,
        slas=slas,
    )


def _route_attempt(
    *,
    referral_id: str,
    request_id: str,
    case_id: str,
    need: ServiceType,
    urgency: Urgency,
    facts: RoutingFacts,
    consent: ConsentScope,
    emergency_without_consent: bool,
    tried: frozenset[str],
    attempt: int,
    now: datetime,
    directory: DirectoryView,
    slas: Slas,
) -> Event:
    decision = route(
        need,
        facts,
        directory,
        tried,
        consent_in_force(consent, now),
        emergency_without_consent=emergency_without_consent,
    )
    common = {
        "referral_id": referral_id,
        "case_id": case_id,
        "request_id": request_id,
        "need": need,
        "urgency": urgency,
        "attempt": attempt,
        "reasons": decision.reasons,
        "categories": list(facts.categories),
        "region": facts.region,
        "district": facts.district,
        "sex": facts.sex,
        "age_band": facts.age_band,
        "language": facts.language,
        "interpreter_needed": facts.interpreter_needed,
        "disability": facts.disability,
        "consent": consent,
        "emergency_without_consent": emergency_without_consent,
    }
    if decision.provider_id is not None:
        return ReferralRouted(
            **common, provider_id=decision.provider_id, respond_by=now + slas[urgency]
        )
    if decision.coordinator_id is None:
        raise NoCoordinator(facts.categories)
    return ReferralUnroutable(**common, coordinator_id=decision.coordinator_id)


def _assign_by_hand(
    state: Referral, command: AssignProvider, now: datetime, directory: DirectoryView, slas: Slas
) -> list[Event]:
    """A coordinator's choice: any provider in the directory, whatever rules it fails,
    except two nobody may override: a suspended provider, and one the consent does not
    cover (sharing without consent). The rules it fails are recorded as overridden."""
    _require(state, "unroutable", "assign a provider to")
    provider = directory.providers.get(command.provider_id)
    if provider is None:
        raise ProviderNotInDirectory(command.provider_id)
    consent = consent_in_force(state.consent, now)
    failed = failed_rules(
        provider,
        state.need,
        state.facts,
        directory,
        state.tried,
        consent,
        state.emergency_without_consent,
    )
    for rule in ("suspended", "consent"):
        if rule in failed:
            raise CannotAssign(command.provider_id, rule)
    basis = consent_basis(provider, state.need, consent, state.emergency_without_consent)
    near = proximity(provider, state.facts)
    speaks = state.facts.language in provider.languages
    overridden = ", ".join(failed) or "none"
    reasons = RoutingReasons(
        matched=[r for r in _ALL_RULES if r not in failed],
        proximity=near,
        language_match=speaks,
        interpreter_needed=interpreter_needed(state.facts, speaks),
        consent_basis=basis,
        passed_over=[],
        excluded=[],
        not_offering=0,
        summary=(
            f"{provider.id} assigned by hand by the coordinator for {state.need}"
            f" ({command.reason_code}), outside the automatic rules; rules overridden:"
            f" {overridden}{interpreter_phrase(state.facts, speaks)}"
        ),
    )
    assigned = ReferralAssignedByHand(
        referral_id=state.referral_id,
        case_id=state.case_id,
        provider_id=provider.id,
        reason_code=command.reason_code,
        assigned_by=command.assigned_by,
        overridden=failed,
    )
    routed = ReferralRouted(
        referral_id=state.referral_id,
        case_id=state.case_id,
        request_id=state.request_id,
        need=state.need,
        urgency=state.urgency,
        attempt=state.attempt + 1,
        reasons=reasons,
        categories=list(state.facts.categories),
        region=state.facts.region,
        district=state.facts.district,
        sex=state.facts.sex,
        age_band=state.facts.age_band,
        language=state.facts.language,
        interpreter_needed=state.facts.interpreter_needed,
        disability=state.facts.disability,
        consent=state.consent,
        emergency_without_consent=state.emergency_without_consent,
        provider_id=provider.id,
        respond_by=now + slas[state.urgency],
    )
    return [assigned, routed]


_ALL_RULES: tuple[Rule, ...] = get_args(Rule)


def _record_outcome(state: Referral, command: RecordOutcome) -> list[Event]:
    """Only the provider that holds (or completed) it, once, from accepted, in service or
    completed; anything but ``delivered`` needs a reason. It completes the referral."""
    if state.provider_id != command.provider_id:
        raise NotAssignedProvider(state.referral_id, command.provider_id)
    if state.status not in ("accepted", "in_service", "completed") or state.outcome is not None:
        raise InvalidTransition(state.referral_id, state.status, "record an outcome for")
    if command.outcome != "delivered" and command.reason_code is None:
        raise OutcomeReasonRequired(state.referral_id)
    return [
        ServiceOutcomeRecorded(
            referral_id=state.referral_id,
            case_id=state.case_id,
            provider_id=command.provider_id,
            outcome=command.outcome,
            reason_code=command.reason_code,
        )
    ]


def _withdraw(state: Referral, command: WithdrawReferral, now: datetime) -> list[Event]:
    """Stop an open referral, and tell every provider it ever reached to delete it.

    Withdrawn once: a second withdrawal (another cause, a redelivery) decides nothing.
    A completed referral is not withdrawn again but its providers are still told.
    """
    if state.deletion is not None:
        return []
    events: list[Event] = []
    if state.is_open:
        events.append(
            ReferralWithdrawn(
                referral_id=state.referral_id,
                case_id=state.case_id,
                provider_id=_holder(state),
                cause=command.cause,
            )
        )
    if state.tried:
        events.append(
            DataDeletionRequested(
                referral_id=state.referral_id,
                case_id=state.case_id,
                provider_ids=sorted(state.tried),
                cause=command.cause,
                confirm_by=now + command.confirm_within,
            )
        )
    return events


def _confirm_deleted(state: Referral, command: ConfirmDataDeleted) -> list[Event]:
    if command.provider_id not in state.tried:
        raise NotAssignedProvider(state.referral_id, command.provider_id)
    if state.deletion is None:
        raise InvalidTransition(state.referral_id, state.status, "confirm the deletion of")
    if command.provider_id in state.deletion.confirmed:
        return []  # said twice: recorded once
    return [
        DataDeletionConfirmed(
            referral_id=state.referral_id, case_id=state.case_id, provider_id=command.provider_id
        )
    ]


def _chase_deletion(
    state: Referral, command: ChaseDataDeletion, now: datetime, directory: DirectoryView
) -> list[Event]:
    """Remind the silent providers once; escalate those still silent once."""
    deletion = state.deletion
    if deletion is None or deletion.next_due is None or now < deletion.next_due:
        return []  # nothing pending, all done, or not yet due
    pending = sorted(deletion.pending)
    common = {"referral_id": state.referral_id, "case_id": state.case_id, "provider_ids": pending}
    if deletion.escalate_by is None:
        return [DataDeletionReminded(**common, escalate_by=now + command.escalate_within)]
    return [DataDeletionEscalated(**common, coordinator_id=coordinator_for(state.facts, directory))]


def _require(state: Referral, status: Status, action: str) -> None:
    if state.status != status:
        raise InvalidTransition(state.referral_id, state.status, action)


def _holder(state: Referral) -> str | None:
    # Only a provider that still holds the referral is told to discard it.
    return (
        state.provider_id if state.status in ("awaiting_answer", "accepted", "in_service") else None
    )
