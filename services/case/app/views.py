"""The case as the API shows it (read models). Identifying fields are ``None`` unless the
caller's role may see them (``identifying_fields_visible``) and the key still exists."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.case import (
    Agency,
    CitizenshipStatus,
    CloseReason,
    ConsentGiver,
    ConsentPurpose,
    DataCategory,
    DisabilityKind,
    IdentificationBasis,
    IdentificationStatus,
)
from shared.events.case_facts import MineFacts, RefugeeFacts, TraffickingFacts
from shared.events.case_person import AssistiveDevice, DeviceAction, FamilyRelation
from shared.events.vocabulary import (
    AgeBand,
    Category,
    Language,
    Region,
    ServiceType,
    Sex,
    Urgency,
)


class View(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IdentifyingView(View):
    given_name: str | None = None
    family_name: str | None = None
    date_of_birth: date | None = None
    estimated_age_years: int | None = None
    contact_arrangement: str | None = None
    address: str | None = None
    document_numbers: list[str] = []
    narrative: str | None = None
    exploitation_started_on: date | None = None
    exploitation_ended_on: date | None = None
    incident_date: date | None = None
    casualty_record_id: str | None = None
    arrival_date: date | None = None
    language_label: str | None = None


class ProfileView(View):
    age_band: AgeBand
    sex: Sex
    disability: bool
    disability_kind: DisabilityKind | None
    nationality: str | None
    citizenship_status: CitizenshipStatus
    language: Language
    interpreter_needed: bool = False
    region: Region
    district: str | None
    categories: list[Category]
    trafficking: TraffickingFacts | None = None
    mine_eo: MineFacts | None = None
    refugee_asylum: RefugeeFacts | None = None
    identifying: IdentifyingView | None = Field(
        description="Decrypted identifying fields; null when erased or not visible to the role."
    )


class NeedsView(View):
    needs: list[ServiceType]
    note: str | None
    assessed_at: datetime


class IdentificationView(View):
    status: IdentificationStatus
    basis: IdentificationBasis
    deciding_agency: Agency
    note: str | None
    recorded_at: datetime


class ConsentView(View):
    consent_id: str
    purpose: ConsentPurpose
    service_types: list[ServiceType]
    provider_ids: list[str]
    data_categories: list[DataCategory]
    given_by: ConsentGiver
    expires_at: datetime | None
    given_at: datetime
    status: Literal["active", "expired", "withdrawn"]
    withdrawn_at: datetime | None = None


class NeedStatusView(View):
    referral_id: str
    need: str | None
    status: str
    provider_id: str | None
    attempt: int | None
    unmet_reason: str | None = Field(
        None, description="Status unmet: why the coordinator decided no provider exists."
    )
    updated_at: datetime


class ReferralView(View):
    referral_id: str
    needs: list[ServiceType]
    urgency: Urgency
    consent_id: str | None
    emergency_without_consent: bool
    emergency_reason: str | None
    note: str | None
    requested_at: datetime
    follows_up: str | None = Field(
        None,
        description="A follow-up service: the earlier referral (of the same need) it follows.",
    )
    status: str = Field(
        "requested",
        description="`requested` until the referral service has decided; then `routed` when"
        " every need is routed, else the least advanced need's status.",
    )
    per_need: list[NeedStatusView] = Field(
        default_factory=list, description="One entry per need, from the referral service."
    )


class NoteView(View):
    note_id: str
    text: str | None
    added_at: datetime
    added_by: str = Field(description="`<role>:<subject>` of the author.")


class DeviceEventView(View):
    device_id: str
    device: AssistiveDevice
    action: DeviceAction
    on: date
    provider_id: str | None
    recorded_at: datetime


class FamilyLinkView(View):
    case_id: str
    relation: FamilyRelation = Field(description="What that case's person is to this one.")


class ReflectionPeriodView(View):
    """The recovery and reflection period (docs/case-domain.md)."""

    started_at: datetime
    ends_at: datetime
    days_left: int = Field(description="Whole days until it ends, rounded up; 0 once over.")
    running: bool
    outcome: str | None = Field(
        description="`elapsed`, `identified`, `not_identified` or `case_closed` once over."
    )


class PendingTransferView(View):
    """A transfer this case's office asked for, not yet answered (docs/case-domain.md
    "Transfers the receiving side accepts"): the sender may cancel it."""

    transfer_id: str
    to_caseworker: str | None = Field(description="None: whoever of `to_office` accepts.")
    to_office: str | None = Field(description="None: the same office.")
    expires_at: datetime | None = Field(description="None: a request from before expiry.")
    expired: bool = Field(
        description="Past `expires_at`: it can no longer be answered (the timer records it)."
    )


class PlanGoalView(View):
    """A goal of the case plan (docs/case-domain.md "The case plan")."""

    goal_id: str
    need: ServiceType
    description: str | None = Field(description="Only with identifying fields visible.")
    provider_id: str | None
    due_on: date | None
    status: Literal["open", "achieved", "dropped"]
    set_at: datetime = Field(description="When the goal was last set.")


class FollowUpView(View):
    """A follow-up date on the case; the caseworker is reminded of it until it is done."""

    follow_up_id: str
    due_on: date
    note: str | None = Field(description="Only with identifying fields visible.")
    done: bool
    set_at: datetime = Field(description="When the follow-up was last set.")


class CaseView(View):
    id: str
    version: int
    status: Literal["open", "closed"]
    caseworker: str
    office: str | None
    region: Region
    district: str | None
    categories: list[Category]
    opened_at: datetime
    updated_at: datetime
    close_reason: CloseReason | None
    identity_erased: bool
    identifying_fields_visible: bool = Field(
        description="Whether this response carries identifying fields (and was recorded)."
    )
    profile: ProfileView | None
    needs: NeedsView | None
    identification: IdentificationView | None
    consents: list[ConsentView]
    referrals: list[ReferralView]
    notes: list[NoteView]
    assistive_devices: list[DeviceEventView] = Field(
        default_factory=list, description="Fitted, repaired, replaced: in order."
    )
    family_links: list[FamilyLinkView] = []
    same_person_cases: list[str] = Field(
        default_factory=list, description="Cases a supervisor linked as the same person."
    )
    reflection_period: ReflectionPeriodView | None = None
    pending_transfer: PendingTransferView | None = None
    plan: list[PlanGoalView] = Field(
        default_factory=list, description="The case plan's goals, in the order first set."
    )
    follow_ups: list[FollowUpView] = Field(
        default_factory=list, description="Follow-up dates, in the order first set."
    )


class CaseSummaryView(View):
    id: str
    status: Literal["open", "closed"]
    region: Region
    district: str | None
    categories: list[Category]
    office: str | None
    caseworker: str
    opened_at: datetime
    updated_at: datetime
    version: int


class CasePage(View):
    items: list[CaseSummaryView]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
