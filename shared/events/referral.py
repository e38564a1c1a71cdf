"""Events of the referral service, and the directory entries they carry.

Two kinds of stream:

- one ``Referral`` stream per need of a referral request (stream id = the referral id,
  ``uuid5(request referral_id, need)``): routed, accepted or declined, served, escalated,
  withdrawn. Every lifecycle event repeats ``referral_id`` and ``case_id`` so a consumer
  (case timeline, notify) needs nothing but the event.
- one ``Directory`` stream: providers and coordinators as they were at each moment, so a
  routing decision can be replayed against the directory it was made on.

Nothing here identifies a person: a referral carries only the routing facts (region,
district, sex, age band, language, disability flag, categories). A provider's own words
(a decline note) travel only as ``Sealed`` ciphertext.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from shared.events.base import Event, Sealed
from shared.events.case import ConsentScope
from shared.events.registry import registry
from shared.events.vocabulary import (
    AgeBand,
    Category,
    Language,
    Region,
    ServiceType,
    Sex,
    Urgency,
    region_of,
)

# -- directory entries -----------------------------------------------------------------------

# A provider or coordinator id: a lowercase slug, stable across directory versions.
DirectoryId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"),
]
# The provider's NATS subject suffix: notifications go to ``safepath.notify.<suffix>...``.
SubjectSuffix = Annotated[
    str,
    StringConstraints(
        min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)*$"
    ),
]
WebhookUrl = Annotated[str, StringConstraints(max_length=500, pattern=r"^https://[^\s]+$")]
Age = Annotated[int, Field(ge=0, le=130)]

OrgType = Literal["government", "ngo", "international", "un_agency", "red_crescent"]
# How near a provider is to the person: its own district, its region, or nationwide.
Proximity = Literal["district", "region", "nationwide"]
SuspensionReason = Literal[
    "closed_temporarily", "under_review", "safeguarding_concern", "seasonal", "other"
]


def _known_district(value: str) -> str:
    if region_of(value) is None:
        raise ValueError(f"unknown district {value!r}")
    return value


District = Annotated[str, AfterValidator(_known_district)]


class LocalisedName(BaseModel):
    """A name in English and, where known, Russian and Tajik."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    en: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    ru: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    tg: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ServiceArea(BaseModel):
    """Where a provider takes people from. ``districts`` are its sites (nearest match)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    nationwide: bool = False
    regions: list[Region] = Field(default_factory=list)
    districts: list[District] = Field(default_factory=list)

    @model_validator(mode="after")
    def _somewhere(self) -> ServiceArea:
        if not (self.nationwide or self.regions or self.districts):
            raise ValueError("serves nowhere: give nationwide, regions or districts")
        return self


class Eligibility(BaseModel):
    """Who a provider may take. ``sexes`` None = any; ages are inclusive whole years."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sexes: list[Sex] | None = None
    min_age: Age | None = None
    max_age: Age | None = None
    child_appropriate: bool = False

    @model_validator(mode="after")
    def _coherent(self) -> Eligibility:
        if self.min_age is not None and self.max_age is not None and self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        if self.max_age is not None and self.max_age < 18 and not self.child_appropriate:
            raise ValueError("serves only children but is not child_appropriate")
        return self


class ContactChannel(BaseModel):
    """How the notify service reaches a provider: a NATS subject, optionally a webhook."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    subject: SubjectSuffix
    webhook: WebhookUrl | None = None


class Provider(BaseModel):
    """One entry of the service directory (one site, where sites route differently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: DirectoryId
    name: LocalisedName
    org_type: OrgType
    area: ServiceArea
    categories: Annotated[list[Category], Field(min_length=1)]
    services: Annotated[list[ServiceType], Field(min_length=1)]
    eligibility: Eligibility = Eligibility()
    languages: Annotated[list[Language], Field(min_length=1)]
    capacity: Annotated[int, Field(ge=0)] | None = None  # None: not capacity-limited
    contact: ContactChannel
    # Where the entry's facts come from (a document or agreement) and as of when (a year,
    # year-month or date). An entry without a source fills a gap: it is illustrative.
    source: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    as_of: Annotated[str, StringConstraints(pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")] | None = None
    illustrative: bool = False

    @model_validator(mode="before")
    @classmethod
    def _unsourced_is_illustrative(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("source") is None:
            if data.get("illustrative") is False:
                raise ValueError("an entry without a source must be illustrative")
            return {**data, "illustrative": True}
        return data


class Coordinator(BaseModel):
    """The national coordinator alerted when no provider can take a referral."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: DirectoryId
    category: Category
    name: LocalisedName
    contact: ContactChannel


# -- routing reasons -------------------------------------------------------------------------

# The rules a candidate is checked against, in the order the policy states them.
Rule = Literal[
    "category",
    "service",
    "area",
    "sex",
    "age",
    "child_appropriate",
    "capacity",
    "consent",
    "suspended",
    "already_tried",
]
ConsentBasis = Literal["service_type", "provider_id", "emergency_without_consent"]


class ExcludedCandidate(BaseModel):
    """A provider that serves the category and offers the service, and why it was not used."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str
    failed: list[Rule]


class RankedCandidate(BaseModel):
    """A provider that passed every rule but ranked below the chosen one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider_id: str
    proximity: Proximity
    language_match: bool


class RoutingReasons(BaseModel):
    """Why a referral went where it went (or nowhere), for an auditor to read."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    matched: list[Rule]  # rules the chosen provider met ([] when unroutable)
    proximity: Proximity | None  # how near the chosen provider is
    language_match: bool | None  # whether it speaks the person's language
    # v2 of the routing events: the person asked for an interpreter, or the chosen provider
    # does not speak their language (v1 reasons are upcast from ``language_match``).
    interpreter_needed: bool
    consent_basis: ConsentBasis | None
    passed_over: list[RankedCandidate]  # suitable, but less near / no language match / later id
    excluded: list[ExcludedCandidate]  # candidates failing at least one rule
    not_offering: int  # providers serving none of the categories or not offering the service
    summary: str  # one plain-language sentence; ids and vocabulary values only

    @model_validator(mode="before")
    @classmethod
    def _before_interpreters(cls, data: Any) -> Any:
        """Reasons written before v2 (events, and projections that stored them as JSON)
        needed an interpreter exactly when the chosen provider did not speak the language."""
        if isinstance(data, dict) and "interpreter_needed" not in data:
            return {**data, "interpreter_needed": data.get("language_match") is False}
        return data


# -- referral lifecycle events ---------------------------------------------------------------

DeclineReason = Literal[
    "no_capacity",
    "not_eligible",
    "outside_service_area",
    "service_unavailable",
    "safety_concern",
    "conflict_of_interest",
    "other",
]
# ``identity_erased`` was added with the data-deletion events (a widening: old events read).
WithdrawalCause = Literal["case_closed", "consent_withdrawn", "identity_erased"]


class _ReferralEvent(Event):
    service = "referral"
    referral_id: str
    case_id: str


class _RoutingAttempt(_ReferralEvent):
    """Fields shared by ``ReferralRouted`` and ``ReferralUnroutable``: the request's facts.

    Each attempt repeats them so an attempt can be read (and re-routed) on its own.
    """

    request_id: str
    need: ServiceType
    urgency: Urgency
    attempt: Annotated[int, Field(ge=1)]
    reasons: RoutingReasons
    categories: Annotated[list[Category], Field(min_length=1)]
    region: Region
    district: str | None
    sex: Sex
    age_band: AgeBand
    language: Language
    interpreter_needed: bool = False  # v2: the person asked for an interpreter (profile flag)
    disability: bool
    consent: ConsentScope
    emergency_without_consent: bool


@registry.register
class ReferralRouted(_RoutingAttempt):
    """The referral was sent to ``provider_id``, who must answer by ``respond_by``.
    v2: the request's ``interpreter_needed`` flag, and the reasons say whether one is needed.
    """

    version = 2

    provider_id: str
    respond_by: AwareDatetime


@registry.register
class ReferralUnroutable(_RoutingAttempt):
    """No provider is left for this need; the category's national coordinator takes over.
    v2 as ``ReferralRouted``."""

    version = 2
    coordinator_id: str


@registry.upcaster("referral", "ReferralRouted", 1)
@registry.upcaster("referral", "ReferralUnroutable", 1)
def _routing_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """v1 knew no interpreter flag: nobody had asked for one. (Its reasons gain theirs as
    ``RoutingReasons`` reads them.)"""
    return {"interpreter_needed": False, **data}


@registry.register
class ReferralAccepted(_ReferralEvent):
    provider_id: str


@registry.register
class ReferralDeclined(_ReferralEvent):
    """The provider said no. A ``ReferralRouted`` or ``ReferralUnroutable`` follows."""

    provider_id: str
    reason_code: DeclineReason
    reason_note: Sealed | None = None  # the provider's own words, never in clear


@registry.register
class ReferralEscalated(_ReferralEvent):
    """``provider_id`` did not answer by ``deadline``. A re-routing attempt follows."""

    provider_id: str
    deadline: AwareDatetime


@registry.register
class ServiceStarted(_ReferralEvent):
    provider_id: str


@registry.register
class ServiceCompleted(_ReferralEvent):
    provider_id: str


ServiceOutcome = Literal["delivered", "partly_delivered", "not_delivered"]
# Why a service was not (fully) delivered: a code, never free text.
OutcomeReason = Literal[
    "person_did_not_attend",
    "person_declined",
    "person_moved",
    "service_unavailable",
    "referred_elsewhere",
    "other",
]


@registry.register
class ServiceOutcomeRecorded(_ReferralEvent):
    """The provider says how the service ended (a reason unless ``delivered``). The
    referral is completed; its loop closes when the caseworker confirms the outcome."""

    provider_id: str
    outcome: ServiceOutcome
    reason_code: OutcomeReason | None = None


@registry.register
class OutcomeConfirmed(_ReferralEvent):
    """The caseworker confirmed the provider's outcome: the referral loop is closed."""

    confirmed_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]


@registry.register
class ReferralWithdrawn(_ReferralEvent):
    """The referral must stop: ``provider_id`` (if one held it) is told to discard it."""

    provider_id: str | None
    cause: WithdrawalCause


# -- the coordinator acts on an unroutable referral (docs/routing.md, "Coordinators")

# Why a coordinator chose a provider by hand, outside the automatic rules.
AssignmentReason = Literal[
    "provider_agreed_exception",  # the provider agreed to take this person anyway
    "travel_arranged",  # the person is brought to a provider outside their area
    "directory_out_of_date",  # the directory is wrong; it is being corrected
    "no_other_option",
    "other",
]


@registry.register
class ReferralAssignedByHand(_ReferralEvent):
    """A coordinator chose ``provider_id`` outside the automatic rules; the rules it does
    not meet are in ``overridden``. A ``ReferralRouted`` to that provider follows."""

    provider_id: str
    reason_code: AssignmentReason
    assigned_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    overridden: list[Rule]


# Why a coordinator decided that no provider exists for a need: a code, never free text
# (free words about a person would identify them).
UnmetReason = Literal[
    "no_provider_in_region",  # nobody offers it where the person is, and travel is no answer
    "no_provider_for_category",  # nobody offers it to people of the person's category
    "person_moved",  # the person left the area (or the country) before a provider was found
    "referred_outside_mechanism",  # served outside the referral mechanism (e.g. abroad)
    "other",
]


@registry.register
class ReferralClosedUnmet(_ReferralEvent):
    """A coordinator decided that no provider exists for this unroutable referral's
    ``need``: the need is left unmet (``reason_code``), the referral is finished. The
    decision is the coordinator's (``decided_by``, its account subject)."""

    need: ServiceType
    reason_code: UnmetReason
    decided_by: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    coordinator_id: str | None  # the coordinator the referral was waiting for


# -- data deletion after a withdrawal (docs/routing.md, "Withdrawal reaches every provider")


@registry.register
class DataDeletionRequested(_ReferralEvent):
    """Every provider that ever received the referral must stop and delete what it holds.

    ``provider_ids``: every provider it was routed to (holding it, declined, timed out or
    served). Each confirms with ``DataDeletionConfirmed``; whoever has not by
    ``confirm_by`` is reminded.
    """

    provider_ids: Annotated[list[str], Field(min_length=1)]
    cause: WithdrawalCause
    confirm_by: AwareDatetime


@registry.register
class DataDeletionConfirmed(_ReferralEvent):
    """``provider_id`` says it deleted everything it held about the referral."""

    provider_id: str


@registry.register
class DataDeletionReminded(_ReferralEvent):
    """``provider_ids`` had not confirmed by the deadline; the coordinator is alerted about
    those still silent at ``escalate_by``."""

    provider_ids: Annotated[list[str], Field(min_length=1)]
    escalate_by: AwareDatetime


@registry.register
class DataDeletionEscalated(_ReferralEvent):
    """``provider_ids`` still had not confirmed after the reminder: ``coordinator_id`` (of
    the referral's first category) follows it up."""

    provider_ids: Annotated[list[str], Field(min_length=1)]
    coordinator_id: str | None


# -- directory events ------------------------------------------------------------------------


class _DirectoryEvent(Event):
    service = "referral"


@registry.register
class ProviderRegistered(_DirectoryEvent):
    """v2: the entry has ``source``, ``as_of`` and ``illustrative``."""

    version = 2
    provider: Provider


@registry.register
class ProviderUpdated(_DirectoryEvent):
    """The whole entry as it now stands (replaces the previous one). v2 as above."""

    version = 2
    provider: Provider


@registry.upcaster("referral", "ProviderRegistered", 1)
@registry.upcaster("referral", "ProviderUpdated", 1)
def _provider_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 entry named no source: it reads as illustrative."""
    provider = {"source": None, "as_of": None, "illustrative": True, **data["provider"]}
    return {**data, "provider": provider}


@registry.register
class CapacityChanged(_DirectoryEvent):
    provider_id: str
    capacity: Annotated[int, Field(ge=0)] | None


@registry.register
class ProviderSuspended(_DirectoryEvent):
    """Routing skips the provider until it is reinstated; referrals it holds stay with it."""

    provider_id: str
    reason_code: SuspensionReason


@registry.register
class ProviderReinstated(_DirectoryEvent):
    provider_id: str


@registry.register
class CoordinatorAssigned(_DirectoryEvent):
    """``coordinator`` is now the one alerted for its category."""

    coordinator: Coordinator


@registry.register
class DirectoryImported(_DirectoryEvent):
    """A directory file of this version was loaded (the events before it are its changes)."""

    directory_version: Annotated[int, Field(ge=1)]


REFERRAL_EVENTS: tuple[type[Event], ...] = (
    ReferralRouted,
    ReferralUnroutable,
    ReferralAccepted,
    ReferralDeclined,
    ReferralEscalated,
    ServiceStarted,
    ServiceCompleted,
    ReferralWithdrawn,
    ServiceOutcomeRecorded,
    OutcomeConfirmed,
    ReferralAssignedByHand,
    ReferralClosedUnmet,
    DataDeletionRequested,
    DataDeletionConfirmed,
    DataDeletionReminded,
    DataDeletionEscalated,
)
DIRECTORY_EVENTS: tuple[type[Event], ...] = (
    ProviderRegistered,
    ProviderUpdated,
    CapacityChanged,
    ProviderSuspended,
    ProviderReinstated,
    CoordinatorAssigned,
    DirectoryImported,
)
