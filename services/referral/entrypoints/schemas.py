"""Request and response bodies of the referral API.

Providers get ``ProviderReferral``: the minimised referral (pseudonymous case reference,
routing facts) and never the case id, a name, a contact or a narrative. Case roles get
``CaseReferral`` with the case id, provider and routing reasons.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.events.referral import (
    AssignmentReason,
    DeclineReason,
    OutcomeReason,
    Provider,
    RoutingReasons,
    ServiceOutcome,
    SuspensionReason,
    UnmetReason,
)
from shared.events.vocabulary import AgeBand, Category, Language, Region, ServiceType, Sex, Urgency
from shared.pseudonym import case_reference


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeclineIn(_In):
    """Why the provider declines: a code only (free-text notes are not taken yet)."""

    reason_code: DeclineReason = Field(examples=["no_capacity"])


class AssignIn(_In):
    """A coordinator's choice of provider, outside the automatic rules, and why (a code)."""

    provider_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$", examples=["nmac-psychosocial-camp"]
    )
    reason_code: AssignmentReason = Field(examples=["travel_arranged"])


class CloseUnmetIn(_In):
    """Why no provider exists for the need: a code only (free words could identify)."""

    reason_code: UnmetReason = Field(examples=["no_provider_in_region"])


class OutcomeIn(_In):
    """How the service ended: a reason code unless it was delivered (never free text)."""

    outcome: ServiceOutcome = Field(examples=["partly_delivered"])
    reason_code: OutcomeReason | None = Field(None, examples=["person_moved"])


class SuspendIn(_In):
    reason_code: SuspensionReason = Field(examples=["under_review"])


class CapacityIn(_In):
    capacity: int | None = Field(ge=0, le=100_000, examples=[12], description="null: no limit")


class ProviderReferral(BaseModel):
    """A referral as the provider holding it sees it."""

    referral_id: str
    case_reference: str = Field(examples=["SP-ABCD-EFGH-IJKL-MNOP"])
    need: ServiceType
    urgency: Urgency
    status: str
    categories: list[Category]
    region: Region
    district: str | None
    sex: Sex
    age_band: AgeBand
    language: Language
    interpreter_needed: bool = Field(description="The person asked for an interpreter.")
    disability: bool
    respond_by: AwareDatetime | None
    version: int


class CoordinatorReferral(ProviderReferral):
    """A referral as a national coordinator sees it: the minimised facts, whom it went to
    and why (the routing reasons name providers only), never the case id or a person."""

    provider_id: str | None
    coordinator_id: str | None
    attempt: int
    reasons: RoutingReasons | None
    unmet_reason: UnmetReason | None = Field(
        None, description="Closed unmet by the coordinator (status unmet): why."
    )


class CaseReferral(BaseModel):
    """A referral as case roles see it: where it went and why."""

    referral_id: str
    case_id: str
    request_id: str
    need: ServiceType
    urgency: Urgency
    status: str
    provider_id: str | None
    coordinator_id: str | None
    attempt: int
    respond_by: datetime | None
    reasons: RoutingReasons | None
    updated_at: datetime
    version: int
    deletion_requested: list[str] = Field(
        default_factory=list, description="Providers told to delete it after a withdrawal."
    )
    deletion_pending: list[str] = Field(
        default_factory=list, description="Of those, the ones that have not confirmed yet."
    )
    outcome: str | None = Field(None, description="The provider's: delivered, partly, not.")
    outcome_reason: str | None = None
    outcome_confirmed: bool = Field(False, description="Confirmed: the referral loop is closed.")
    unmet_reason: UnmetReason | None = Field(
        None, description="The coordinator decided no provider exists for the need: why."
    )
    follows_up: str | None = Field(
        None,
        description="A follow-up service on a long-term need: the earlier referral of the"
        " same case and need it follows.",
    )


class Declined(BaseModel):
    """The decline was recorded; the referral has gone to the next provider (or coordinator)."""

    referral_id: str
    status: str = "declined"


class DeletionConfirmed(BaseModel):
    """The provider's confirmation that it deleted what it held about the referral."""

    referral_id: str
    status: str = "deletion_confirmed"


class DirectoryEntry(BaseModel):
    provider: Provider
    suspended: bool
    places_in_use: int


def provider_referral(row: Any, key: bytes) -> ProviderReferral:
    return ProviderReferral(
        referral_id=row["referral_id"],
        case_reference=case_reference(key, row["case_id"]),
        need=row["need"],
        urgency=row["urgency"],
        status=row["status"],
        categories=list(row["categories"]),
        region=row["region"],
        district=row["district"],
        sex=row["sex"],
        age_band=row["age_band"],
        language=row["language"],
        interpreter_needed=row["interpreter_needed"],
        disability=row["disability"],
        respond_by=row["respond_by"],
        version=row["version"],
    )


def case_referral(row: Any) -> CaseReferral:
    reasons = json.loads(row["reasons"]) if row["reasons"] else None
    return CaseReferral(
        referral_id=row["referral_id"],
        case_id=row["case_id"],
        request_id=row["request_id"],
        need=row["need"],
        urgency=row["urgency"],
        status=row["status"],
        provider_id=row["provider_id"],
        coordinator_id=row["coordinator_id"],
        attempt=row["attempt"],
        respond_by=row["respond_by"],
        reasons=RoutingReasons.model_validate(reasons) if reasons else None,
        updated_at=row["updated_at"],
        version=row["version"],
        deletion_requested=list(row["deletion_requested"] or []),
        deletion_pending=list(row["deletion_pending"] or []),
        outcome=row["outcome"],
        outcome_reason=row["outcome_reason"],
        outcome_confirmed=row["outcome_confirmed"],
        unmet_reason=row["unmet_reason"],
        follows_up=row.get("follows_up"),  # rows read with the case's scope carry it
    )


def coordinator_referral(row: Any, key: bytes) -> CoordinatorReferral:
    reasons = json.loads(row["reasons"]) if row["reasons"] else None
    return CoordinatorReferral(
        **provider_referral(row, key).model_dump(),
        provider_id=row["provider_id"],
        coordinator_id=row["coordinator_id"],
        attempt=row["attempt"],
        reasons=RoutingReasons.model_validate(reasons) if reasons else None,
        unmet_reason=row["unmet_reason"],
    )
