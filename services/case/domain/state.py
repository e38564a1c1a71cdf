"""A case as the domain sees it: the fold of its events. Holds no identifying data in clear."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from typing import Literal

from services.case.domain.reflection_state import ReflectionPeriod
from shared.events.case import (
    CloseReason,
    ConsentGiver,
    ConsentPurpose,
    ConsentScope,
    DataCategory,
    IdentificationStatus,
    SurvivorProfile,
)
from shared.events.case_plan import DueKind, GoalStatus
from shared.events.vocabulary import Category, Region, ServiceType, Urgency

CaseStatus = Literal["open", "closed"]

# What every referral request shares with the referral service and, through it, providers.
REFERRAL_DATA: frozenset[DataCategory] = frozenset({"needs", "demographics"})


class _NoteLog:
    """The append-only record a family of ``NoteIds`` values shares."""

    __slots__ = ("ids", "position")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self.ids: list[str] = []
        self.position: dict[str, int] = {}
        for note_id in ids:
            if note_id not in self.position:
                self.position[note_id] = len(self.ids)
                self.ids.append(note_id)


class NoteIds(Set[str]):
    """An immutable set of note ids whose ``add`` costs O(1), not a copy of the set.

    Each value is a prefix of a shared append-only log: ``add`` on the newest value
    appends to the log and returns a longer prefix, so folding n notes does O(n) work
    (a ``frozenset`` union would copy the set per note: O(n²)). Adding to an older
    value, whose log has grown since, copies its prefix first, so no value ever
    changes. Compares equal to a ``frozenset`` of the same ids.
    """

    __slots__ = ("_log", "_size")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._log = _NoteLog(ids)
        self._size = len(self._log.ids)

    @classmethod
    def _prefix(cls, log: _NoteLog, size: int) -> NoteIds:
        value = cls.__new__(cls)
        value._log, value._size = log, size
        return value

    def add(self, note_id: str) -> NoteIds:
        """These ids and ``note_id``."""
        log, size = self._log, self._size
        at = log.position.get(note_id)
        if at is not None and at < size:
            return self
        if len(log.ids) != size:  # the log grew past this value: branch off a copy
            log = _NoteLog(islice(log.ids, size))
        log.position[note_id] = size
        log.ids.append(note_id)
        return NoteIds._prefix(log, size + 1)

    def __contains__(self, note_id: object) -> bool:
        at = self._log.position.get(note_id) if isinstance(note_id, str) else None
        return at is not None and at < self._size

    def __iter__(self) -> Iterator[str]:
        return islice(self._log.ids, self._size)

    def __len__(self) -> int:
        return self._size

    def __hash__(self) -> int:
        return self._hash()

    def __repr__(self) -> str:
        return f"NoteIds({list(self)!r})"


@dataclass(frozen=True)
class Consent:
    consent_id: str
    purpose: ConsentPurpose
    service_types: tuple[ServiceType, ...]
    provider_ids: tuple[str, ...]
    data_categories: tuple[DataCategory, ...]
    given_by: ConsentGiver
    expires_at: datetime | None
    withdrawn: bool = False

    def is_active(self, now: datetime) -> bool:
        return not self.withdrawn and (self.expires_at is None or now < self.expires_at)

    def covers_referral(self, needs: Sequence[ServiceType]) -> bool:
        """True when this consent lets the case service request a referral for ``needs``.

        Recipients are the union of what the consent names: any provider of a listed service
        type, and any named provider for any service. So a need outside ``service_types`` is
        still covered when providers are named: the referral service may then send it only to
        those providers (it gets ``provider_ids`` in the scope and checks each recipient).
        """
        if self.purpose != "referral" or not REFERRAL_DATA <= set(self.data_categories):
            return False
        return all(need in self.service_types or self.provider_ids for need in needs)

    def scope(self) -> ConsentScope:
        return ConsentScope(
            consent_id=self.consent_id,
            service_types=list(self.service_types),
            provider_ids=list(self.provider_ids),
            data_categories=list(self.data_categories),
            expires_at=self.expires_at,
        )


@dataclass(frozen=True)
class RequestedReferral:
    referral_id: str
    needs: tuple[ServiceType, ...]
    urgency: Urgency
    consent_id: str | None  # None: an emergency referral without consent


@dataclass(frozen=True, slots=True)
class PlanGoal:
    """A goal of the case plan (domain/plan.py); the sealed wording stays in the event."""

    goal_id: str
    need: ServiceType
    provider_id: str | None
    due_on: date | None
    status: GoalStatus


@dataclass(frozen=True, slots=True)
class DueReminder:
    """The nearest reminder setting decided for a goal's or follow-up's due date
    (domain/due_dates.py); a different date starts its reminders again."""

    kind: DueKind
    item_id: str
    due_on: date
    days_before: int


@dataclass(frozen=True)
class PendingTransfer:
    """A transfer asked for and not yet answered (domain/transfer.py)."""

    transfer_id: str
    to_caseworker: str | None  # None: whoever of ``to_office`` accepts it
    to_office: str | None  # None: the same office
    expires_at: datetime | None = None  # None: a request from before requests expired


@dataclass(frozen=True)
class Case:
    status: CaseStatus
    caseworker: str
    office: str | None
    # Until a profile is recorded, region and categories are those given at opening.
    region: Region
    categories: tuple[Category, ...]
    profile: SurvivorProfile | None = None
    needs: tuple[ServiceType, ...] = ()
    identification: IdentificationStatus | None = None
    # A reopening after a conclusive decision lets a new presumption be recorded.
    reopened_since_identification: bool = False
    consents: tuple[Consent, ...] = ()
    referrals: tuple[RequestedReferral, ...] = ()
    note_ids: NoteIds = field(default_factory=NoteIds)
    close_reason: CloseReason | None = None
    identity_erased: bool = False
    # The person across cases (domain/person.py): (device id, device kind) per device,
    # (other case id, relation) per family link, and the supervisor's duplicate decisions.
    devices: tuple[tuple[str, str], ...] = ()
    family: tuple[tuple[str, str], ...] = ()
    same_person: tuple[str, ...] = ()
    dismissed_duplicates: tuple[str, ...] = ()
    # The recovery and reflection period (domain/reflection.py), once presumed.
    reflection: ReflectionPeriod | None = None
    # Break the glass (domain/emergency.py): (who, until) of every emergency grant.
    emergency_grants: tuple[tuple[str, datetime], ...] = ()
    # A transfer waiting for the receiving side's answer (domain/transfer.py).
    pending_transfer: PendingTransfer | None = None
    # The last request that expired unanswered: its receiving side hears "expired" (409),
    # not "no such request", when it answers late.
    lapsed_transfer: PendingTransfer | None = None
    # The case plan (domain/plan.py): its goals, in the order first set.
    plan: tuple[PlanGoal, ...] = ()
    # Follow-up dates (domain/plan.py): (follow-up id, due date), in the order first set.
    follow_ups: tuple[tuple[str, date], ...] = ()
    # The follow-ups marked done (domain/plan.py): no longer reminded.
    follow_ups_done: frozenset[str] = frozenset()
    # The reminders decided for the plan's due dates (domain/due_dates.py), the latest per
    # goal or follow-up.
    due_reminders: tuple[DueReminder, ...] = ()

    @property
    def is_closed(self) -> bool:
        return self.status == "closed"

    def consent(self, consent_id: str) -> Consent | None:
        return next((c for c in self.consents if c.consent_id == consent_id), None)

    def referral(self, referral_id: str) -> RequestedReferral | None:
        return next((r for r in self.referrals if r.referral_id == referral_id), None)
