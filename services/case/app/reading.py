"""The case read model, built from its stream; and the record of every identifying read.

Identifying fields are opened only for roles that may see them; every such read appends a
``CaseAccessed`` record to the separate stream ``access-<case_id>``, so reads never change
the case's version (ETag) and never conflict with writes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from services.case.app.handling import actor_of, visible
from services.case.app.loading import load_case
from services.case.app.sealing import open_details, open_text
from services.case.app.views import (
    CaseView,
    ConsentView,
    DeviceEventView,
    FamilyLinkView,
    FollowUpView,
    IdentificationView,
    IdentifyingView,
    NeedsView,
    NoteView,
    PendingTransferView,
    PlanGoalView,
    ProfileView,
    ReferralView,
    ReflectionPeriodView,
)
from services.case.domain import Case, decide
from services.case.domain.commands import RecordAccess
from shared.auth import Principal
from shared.commands import Loaded
from shared.events.base import Event, Sealed
from shared.events.case import (
    CaseNoteAdded,
    ConsentGiven,
    ConsentWithdrawn,
    IdentificationRecorded,
    NeedsAssessed,
    ReferralRequested,
    SurvivorProfileRecorded,
    SurvivorProfileUpdated,
)
from shared.events.case_person import AssistiveDeviceRecorded
from shared.events.case_plan import CaseFollowUpSet, CasePlanGoalSet
from shared.eventstore import ConcurrencyError, EventStore, NewEvent

ACCESS_ATTEMPTS = 10


ACCESS_PREFIX = "access-"


def access_stream(case_id: str) -> str:
    return f"{ACCESS_PREFIX}{case_id}"


async def stream_visible(store: EventStore, principal: Principal, stream_id: str) -> bool:
    """Whether ``principal`` may see the case a stream belongs to (the case's own stream or
    its ``access-`` stream), decided on the case as it stands now. False when no such case."""
    case_id = stream_id.removeprefix(ACCESS_PREFIX)
    try:
        UUID(case_id)
    except ValueError:
        return False  # case ids are UUIDs; anything else is no case
    return visible(principal, (await load_case(store, case_id)).state)


@dataclass
class _Reader:
    """Opens sealed fields when allowed, and remembers the names of what it opened."""

    case_id: str
    key: bytes | None
    fields: list[str] = field(default_factory=list)

    def text(self, name: str, sealed: Sealed | None) -> str | None:
        if self.key is None or sealed is None:
            return None
        if name not in self.fields:
            self.fields.append(name)
        return open_text(self.key, self.case_id, sealed)

    def details(self, sealed: Sealed) -> IdentifyingView | None:
        if self.key is None:
            return None
        details = open_details(self.key, self.case_id, sealed).model_dump()
        for name, value in details.items():
            if value not in (None, []) and f"profile.{name}" not in self.fields:
                self.fields.append(f"profile.{name}")
        return IdentifyingView(**details)


def case_view(
    case_id: str, loaded: Loaded[Case], events: list[Event], key: bytes | None, now: datetime
) -> tuple[CaseView, list[str]]:
    """The view of the case and the names of the identifying fields it reveals.

    ``key`` is None when the caller may not see identifying fields or the key was erased.
    """
    case = loaded.state
    assert case is not None
    read = _Reader(case_id, key)
    v: dict[str, Any] = {"profile": None, "needs": None, "identification": None}
    consents: dict[str, dict[str, Any]] = {}
    referrals: list[ReferralView] = []
    notes: list[NoteView] = []
    plan: dict[str, PlanGoalView] = {}  # by goal id; a dict keeps the order first set
    follow_ups: dict[str, FollowUpView] = {}
    for stored, event in zip(loaded.events, events, strict=True):
        at = stored.occurred_at
        match event:
            case SurvivorProfileRecorded(profile=p) | SurvivorProfileUpdated(profile=p):
                clear = p.model_dump(exclude={"identifying", "categories"})
                v["profile"] = (p, clear)
            case NeedsAssessed():
                v["needs"] = NeedsView(
                    needs=event.needs, note=read.text("needs.note", event.note), assessed_at=at
                )
            case IdentificationRecorded():
                v["identification"] = IdentificationView(
                    status=event.status,
                    basis=event.basis,
                    deciding_agency=event.deciding_agency,
                    note=read.text("identification.note", event.note),
                    recorded_at=at,
                )
            case ConsentGiven():
                consents[event.consent_id] = {
                    **event.model_dump(),
                    "given_at": at,
                    "withdrawn_at": None,
                }
            case ConsentWithdrawn():
                consents[event.consent_id]["withdrawn_at"] = at
            case ReferralRequested():
                referrals.append(
                    ReferralView(
                        referral_id=event.referral_id,
                        needs=event.needs,
                        urgency=event.urgency,
                        consent_id=event.consent.consent_id,
                        emergency_without_consent=event.emergency_without_consent,
                        emergency_reason=read.text(
                            "referrals.emergency_reason", event.emergency_reason
                        ),
                        note=read.text("referrals.note", event.note),
                        requested_at=at,
                        follows_up=event.follows_up,
                    )
                )
            case CasePlanGoalSet():
                plan[event.goal_id] = PlanGoalView(
                    **event.model_dump(exclude={"description"}),
                    description=read.text("plan.description", event.description),
                    set_at=at,
                )
            case CaseFollowUpSet():
                follow_ups[event.follow_up_id] = FollowUpView(
                    **event.model_dump(exclude={"note"}),
                    note=read.text("follow_ups.note", event.note),
                    set_at=at,
                )
            case CaseNoteAdded():
                added_by = str(stored.metadata["actor"])
                text = read.text("notes.text", event.note)
                notes.append(
                    NoteView(note_id=event.note_id, text=text, added_at=at, added_by=added_by)
                )
    profile_view = None
    if v["profile"] is not None:
        p, clear = v["profile"]
        profile_view = ProfileView(
            **clear, categories=p.categories, identifying=read.details(p.identifying)
        )
    person = _person(loaded.events, events)
    view = CaseView(
        id=case_id,
        version=loaded.version,
        status=case.status,
        caseworker=case.caseworker,
        office=case.office,
        region=case.region,
        district=case.profile.district if case.profile else None,
        categories=list(case.categories),
        opened_at=loaded.events[0].occurred_at,
        updated_at=loaded.events[-1].occurred_at,
        close_reason=case.close_reason,
        identity_erased=case.identity_erased,
        identifying_fields_visible=bool(read.fields),
        profile=profile_view,
        needs=v["needs"],
        identification=v["identification"],
        consents=[_consent(c, now) for c in consents.values()],
        referrals=referrals,
        notes=notes,
        assistive_devices=person,
        family_links=[FamilyLinkView(case_id=c, relation=r) for c, r in case.family],
        same_person_cases=list(case.same_person),
        reflection_period=_reflection(case, now),
        pending_transfer=_pending_transfer(case, now),
        plan=list(plan.values()),
        follow_ups=list(follow_ups.values()),
    )
    return view, read.fields


def _reflection(case: Case, now: datetime) -> ReflectionPeriodView | None:
    period = case.reflection
    if period is None:
        return None
    return ReflectionPeriodView(
        started_at=period.started_at,
        ends_at=period.ends_at,
        days_left=period.days_left(now) if period.running else 0,
        running=period.running,
        outcome=period.outcome,
    )


def _pending_transfer(case: Case, now: datetime) -> PendingTransferView | None:
    t = case.pending_transfer
    if t is None:
        return None
    return PendingTransferView(
        transfer_id=t.transfer_id,
        to_caseworker=t.to_caseworker,
        to_office=t.to_office,
        expires_at=t.expires_at,
        expired=t.expires_at is not None and t.expires_at <= now,
    )


def _person(stored: list[Any], events: list[Event]) -> list[DeviceEventView]:
    """The assistive devices' history (clear facts, in the order recorded)."""
    return [
        DeviceEventView(**e.model_dump(), recorded_at=s.occurred_at)
        for s, e in zip(stored, events, strict=True)
        if isinstance(e, AssistiveDeviceRecorded)
    ]


def _consent(c: dict[str, Any], now: datetime) -> ConsentView:
    if c["withdrawn_at"] is not None:
        status = "withdrawn"
    elif c["expires_at"] is not None and c["expires_at"] <= now:
        status = "expired"
    else:
        status = "active"
    return ConsentView(**c, status=status)


async def record_access(
    store: EventStore,
    case: Case,
    case_id: str,
    principal: Principal,
    fields: list[str],
    endpoint: str,
    correlation_id: str,
    clock: Callable[[], datetime],
) -> None:
    """Append who read which identifying fields of the case, where, to ``access-<id>``."""
    now = clock()
    command = RecordAccess(who=principal.sub, role=principal.role, fields=fields, endpoint=endpoint)
    events = decide(case, command, now)
    stream = access_stream(case_id)
    new = [NewEvent(e, actor_of(principal), correlation_id, occurred_at=now) for e in events]
    for _ in range(ACCESS_ATTEMPTS):
        version = await store.stream_version(stream)
        try:
            await store.append(stream, version, new)
            return
        except ConcurrencyError:
            continue  # another read was recorded at the same moment: take the next version
    raise ConcurrencyError(stream, version, await store.stream_version(stream))


async def with_referral_status(pool: Any, case_id: str, view: CaseView) -> None:
    """Fill each requested referral's status from what the referral service reported."""
    from services.case.app.timeline import referral_statuses
    from services.case.app.views import NeedStatusView

    statuses = await referral_statuses(pool, case_id)
    for r in view.referrals:
        per_need = [NeedStatusView(**x) for x in statuses.get(r.referral_id, [])]
        if not per_need:
            continue
        r.per_need = per_need
        states = {n.status for n in per_need}
        r.status = states.pop() if len(states) == 1 else "partly " + "/".join(sorted(states))
