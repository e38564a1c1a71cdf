"""What a caseworker (or the case service on their behalf) asks the case to do.

Commands are imperative and validated on construction. Identifying data arrives already
sealed with the case key (the app layer encrypts before calling ``decide``), the age band
arrives already computed, and every id is chosen by the caller. The case id is not a field:
the app layer loads the stream by id and hands ``decide`` its state.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.case.domain.due_dates import ChaseDueDates
from services.case.domain.emergency import BreakGlass
from services.case.domain.follow_up_service import EarlierReferral
from services.case.domain.person import PersonCommand
from services.case.domain.plan import SetFollowUp, SetPlanGoal
from services.case.domain.reflection import DEFAULT_DAYS, ReflectionCommand
from services.case.domain.transfer import TransferCommand
from shared.events.base import Sealed
from shared.events.case import (
    AccessedFields,
    Agency,
    Categories,
    CloseReason,
    Code,
    ConsentGiver,
    ConsentPurpose,
    DataCategories,
    Endpoint,
    ErasureReason,
    IdentificationBasis,
    IdentificationStatus,
    Identifier,
    Needs,
    Office,
    ProviderIds,
    ReopenReason,
    Role,
    ServiceTypes,
    Subject,
    SurvivorProfile,
    UuidString,
)
from shared.events.case_reflection import NotIdentifiedReason
from shared.events.vocabulary import Region, Urgency


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OpenCase(Command):
    """Open a case, optionally with the profile taken at intake (one request, two events)."""

    caseworker: Subject  # the opening caseworker's account subject; becomes responsible
    office: Office | None = None
    region: Region
    categories: Categories
    profile: SurvivorProfile | None = None


class RecordProfile(Command):
    profile: SurvivorProfile


class UpdateProfile(Command):
    """Replace the whole profile (PUT semantics)."""

    profile: SurvivorProfile


class AssessNeeds(Command):
    needs: ServiceTypes  # [] = assessed, no needs found
    note: Sealed | None = None


class RecordIdentification(Command):
    status: IdentificationStatus
    basis: IdentificationBasis
    deciding_agency: Agency
    note: Sealed | None = None
    # The reflection period (domain/reflection.py): its length when ``presumed`` starts
    # one; for ``not_identified`` while it runs, the reason and the deciding supervisor.
    reflection_days: Annotated[int, Field(ge=1, le=365)] = DEFAULT_DAYS
    reason_code: NotIdentifiedReason | None = None
    supervisor: Subject | None = None


class GiveConsent(Command):
    consent_id: Identifier
    purpose: ConsentPurpose
    service_types: ServiceTypes = []
    provider_ids: ProviderIds = []
    data_categories: DataCategories
    given_by: ConsentGiver = "survivor"
    expires_at: AwareDatetime | None = None


class WithdrawConsent(Command):
    consent_id: Identifier
    reason_code: Code | None = None


class RequestReferral(Command):
    """Ask for the needs to be routed to providers.

    ``consent_id`` picks the consent to share under; when omitted the newest active consent
    covering every need is used. An ``emergency`` may proceed without covering consent only
    with a sealed ``emergency_reason``.
    """

    referral_id: UuidString
    needs: Needs
    urgency: Urgency
    consent_id: Identifier | None = None
    emergency_reason: Sealed | None = None
    note: Sealed | None = None
    # A follow-up service on the same need (domain/follow_up_service.py): the earlier
    # referral, and what the case service received about it (None: nothing, for this case).
    follows_up: UuidString | None = None
    earlier: EarlierReferral | None = None


class AddNote(Command):
    note_id: Identifier
    note: Sealed


class CloseCase(Command):
    reason: CloseReason
    note: Sealed | None = None


class ReopenCase(Command):
    reason: ReopenReason
    note: Sealed | None = None


class TransferCase(Command):
    """Hand the case to another caseworker and/or office (at least one must change)."""

    to_caseworker: Subject | None = None
    to_office: Office | None = None


class EraseIdentity(Command):
    """Record that the case key is (being) destroyed. The app layer deletes the key."""

    erased_by: Subject
    reason_code: ErasureReason


class RecordAccess(Command):
    """Record a read of identifying fields (who, in which role, which fields, where)."""

    who: Subject
    role: Role
    fields: AccessedFields
    endpoint: Endpoint


CaseCommand = (
    OpenCase
    | RecordProfile
    | UpdateProfile
    | AssessNeeds
    | RecordIdentification
    | GiveConsent
    | WithdrawConsent
    | RequestReferral
    | AddNote
    | CloseCase
    | ReopenCase
    | TransferCase
    | EraseIdentity
    | RecordAccess
    | PersonCommand  # devices, family links, duplicate decisions (domain/person.py)
    | ReflectionCommand  # the recovery and reflection period (domain/reflection.py)
    | BreakGlass  # emergency access from outside the case's scope (domain/emergency.py)
    | TransferCommand  # a transfer the receiving side accepts (domain/transfer.py)
    | SetPlanGoal  # a goal of the case plan (domain/plan.py)
    | SetFollowUp  # a follow-up date on the case (domain/plan.py)
    | ChaseDueDates  # the due-date timer's reminders (domain/due_dates.py)
)
