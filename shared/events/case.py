"""Events of the case service: one ``Case`` stream per survivor case.

The stream id (CloudEvents ``subject``) is the case id; no event repeats it. Who
caused an event travels in the envelope's ``actor``; an event names a person only
where the fact is about that person (the assigned caseworker, who erased, who read).

Identifying data (names, date of birth, estimated age, contacts, address, document
numbers, narratives, free-text notes and reasons) appears only as ``Sealed``
ciphertext under the case's own key; everything in clear is what routing and
statistics need. Field constraints live here so bad data cannot be constructed.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

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
from shared.events.case_facts import MineFacts, RefugeeFacts, TraffickingFacts
from shared.events.registry import registry
from shared.events.vocabulary import (
    DISTRICTS,
    AgeBand,
    Category,
    Language,
    Region,
    ServiceType,
    Sex,
    Urgency,
)

# -- constrained scalars -------------------------------------------------------------------------

# An account subject or office name: printable, bounded, never a free-text narrative.
Subject = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Office = Annotated[
    str, StringConstraints(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")
]
# Ids chosen by the caller (UUID strings in practice; any short token is accepted).
Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")
]
# A machine code (snake_case), used where a reason must not be free text.
Code = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
# ISO 3166-1 alpha-2 country code.
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


def _uuid_string(value: str) -> str:
    # Consumers derive per-need ids with uuid5(UUID(referral_id), need): it must parse.
    return str(uuid.UUID(value))


UuidString = Annotated[str, AfterValidator(_uuid_string)]


T = TypeVar("T")


def _distinct(values: list[T]) -> list[T]:
    if len(set(values)) != len(values):
        raise ValueError("values must be distinct")
    return values


Role = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z_]+$")]
# Names of the fields read (``profile.given_name``, ``notes``): names, never values.
AccessedFields = Annotated[
    list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.]{0,59}$")]],
    Field(min_length=1, max_length=50),
]
# The route template (``GET /cases/{id}``), never a filled-in URL.
Endpoint = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]
Needs = Annotated[list[ServiceType], AfterValidator(_distinct), Field(min_length=1, max_length=17)]
Categories = Annotated[list[Category], AfterValidator(_distinct), Field(min_length=1, max_length=3)]
ServiceTypes = Annotated[list[ServiceType], AfterValidator(_distinct), Field(max_length=17)]
ProviderIds = Annotated[list[Identifier], AfterValidator(_distinct), Field(max_length=50)]

# -- vocabularies of the case domain -------------------------------------------------------------

DisabilityKind = Literal[
    "physical", "visual", "hearing", "speech", "intellectual", "psychosocial", "multiple", "other"
]
CitizenshipStatus = Literal[
    "citizen", "foreign_national", "stateless", "asylum_seeker", "refugee", "unknown"
]
IdentificationStatus = Literal["presumed", "identified", "not_identified"]
IdentificationBasis = Literal[
    "indicators_present",  # presumed: indicators seen by a first-line actor
    "reasonable_grounds",  # first formal decision
    "conclusive_decision",  # competent authority's final decision
    "court_decision",
    "review",  # a conclusive decision revisited
    "other",
]
Agency = Literal[
    "imcctip",  # Inter-Ministerial Commission on Combating Trafficking in Persons
    "police",
    "prosecutor",
    "court",
    "border_guard",
    "migration_service",
    "mohspp",
    "nmac",
    "unhcr",
    "iom",
    "ngo",
    "other",
]
ConsentPurpose = Literal["referral", "case_coordination", "follow_up", "statistics"]
ConsentGiver = Literal["survivor", "parent_or_guardian", "legal_representative"]
# What a consent lets the case service share. A referral shares "needs" and "demographics".
DataCategory = Literal["needs", "demographics", "contact", "identity", "medical", "narrative"]
DataCategories = Annotated[list[DataCategory], AfterValidator(_distinct), Field(max_length=6)]
CloseReason = Literal[
    "services_completed",
    "survivor_declined",
    "lost_contact",
    "transferred_out",
    "not_eligible",
    "duplicate",
    "deceased",
    "other",
]
ReopenReason = Literal["new_needs", "revictimised", "closed_in_error", "survivor_request", "other"]
ErasureReason = Literal["survivor_request", "retention_expired", "legal_order", "other"]

# -- value objects -------------------------------------------------------------------------------


class IdentifyingDetails(BaseModel):
    """The plaintext the app layer seals into ``SurvivorProfile.identifying``.

    Never put into an event, a log or an error in clear. Validated before sealing, so a
    case's ciphertext always opens into this shape. (A date of birth in the future needs a
    clock, so the app layer checks that.)
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    family_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    date_of_birth: date | None = None
    estimated_age_years: Annotated[int, Field(ge=0, le=130)] | None = None
    contact_arrangement: Annotated[str, StringConstraints(max_length=500)] | None = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    document_numbers: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=64)]], Field(max_length=10)
    ] = Field(default_factory=list)
    narrative: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    # Category facts that would single the person out (their clear years are in the
    # profile's category facts): the exact dates, and the national casualty record.
    exploitation_started_on: date | None = None
    exploitation_ended_on: date | None = None
    incident_date: date | None = None
    casualty_record_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    arrival_date: date | None = None
    # The name of a language outside the list (``language: other``): free text, so sealed.
    language_label: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None


class SurvivorProfile(BaseModel):
    """A survivor's profile as events carry it: routing fields in clear, the rest sealed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifying: Sealed  # IdentifyingDetails under the case key
    age_band: AgeBand
    sex: Sex
    disability: bool
    disability_kind: DisabilityKind | None = None
    nationality: CountryCode | None = None
    citizenship_status: CitizenshipStatus = "unknown"
    language: Language
    interpreter_needed: bool = False  # v3: routing says so in its reasons
    region: Region
    district: str | None = None
    categories: Categories
    # Category facts (v2), in clear for routing and statistics; each only for its category.
    trafficking: TraffickingFacts | None = None
    mine_eo: MineFacts | None = None
    refugee_asylum: RefugeeFacts | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SurvivorProfile:
        if self.disability_kind is not None and not self.disability:
            raise ValueError("disability_kind given without disability")
        if self.district is not None and self.district not in DISTRICTS[self.region]:
            raise ValueError(f"district {self.district!r} is not in region {self.region!r}")
        for category in ("trafficking", "mine_eo", "refugee_asylum"):
            if getattr(self, category) is not None and category not in self.categories:
                raise ValueError(f"{category} facts given for a case not in that category")
        return self


class ConsentScope(BaseModel):
    """What the person agreed to share, copied into a referral request."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    consent_id: Identifier | None  # None only for an emergency referral without consent
    service_types: ServiceTypes  # recipient service types covered ([] = none by type)
    provider_ids: ProviderIds  # recipient providers covered by id ([] = none by id)
    data_categories: Annotated[list[Code], AfterValidator(_distinct), Field(max_length=20)]
    expires_at: AwareDatetime | None


NO_CONSENT = ConsentScope(
    consent_id=None, service_types=[], provider_ids=[], data_categories=[], expires_at=None
)

# -- events --------------------------------------------------------------------------------------


@registry.register
class CaseOpened(Event):
    """A first-line actor opened a case; the caseworker named is responsible for it."""

    service = "case"
    caseworker: Subject
    office: Office | None = None
    region: Region
    categories: Categories


@registry.register
class SurvivorProfileRecorded(Event):
    """v2: the profile carries the category facts (v1 events are upcast with none).
    v3: and the ``interpreter_needed`` flag (v2 events are upcast with ``False``)."""

    service = "case"
    version = 3
    profile: SurvivorProfile


@registry.register
class SurvivorProfileUpdated(Event):
    """The whole profile as it now stands (replaces the previous one). v3 as Recorded."""

    service = "case"
    version = 3
    profile: SurvivorProfile


@registry.upcaster("case", "SurvivorProfileRecorded", 1)
@registry.upcaster("case", "SurvivorProfileUpdated", 1)
def _profile_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 profile knew no category facts: it has none (its sealed blob opens as before)."""
    profile = {"trafficking": None, "mine_eo": None, "refugee_asylum": None, **data["profile"]}
    return {**data, "profile": profile}


@registry.upcaster("case", "SurvivorProfileRecorded", 2)
@registry.upcaster("case", "SurvivorProfileUpdated", 2)
def _profile_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """A v2 profile had no interpreter flag: nobody had said one was needed."""
    return {**data, "profile": {"interpreter_needed": False, **data["profile"]}}


@registry.register
class NeedsAssessed(Event):
    """The needs as assessed now (replaces the previous assessment)."""

    service = "case"
    needs: ServiceTypes  # [] = assessed, no needs found
    note: Sealed | None = None


@registry.register
class IdentificationRecorded(Event):
    """An NRM identification decision: presumed, then identified or not identified."""

    service = "case"
    status: IdentificationStatus
    basis: IdentificationBasis
    deciding_agency: Agency
    note: Sealed | None = None


@registry.register
class ConsentGiven(Event):
    """Informed consent to share stated data with stated recipients for a stated purpose."""

    service = "case"
    consent_id: Identifier
    purpose: ConsentPurpose
    service_types: ServiceTypes
    provider_ids: ProviderIds
    data_categories: Annotated[DataCategories, Field(min_length=1)]
    given_by: ConsentGiver = "survivor"
    expires_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _names_recipients(self) -> ConsentGiven:
        if not self.service_types and not self.provider_ids:
            raise ValueError("a consent names recipient service types or provider ids")
        return self


@registry.register
class ConsentWithdrawn(Event):
    """No further sharing under this consent; recipients must stop using what they got."""

    service = "case"
    consent_id: Identifier
    reason_code: Code | None = None


@registry.register
class ReferralRequested(Event):
    """A request to route the case's needs to providers (consumed by the referral service).
    v2: carries the profile's ``interpreter_needed`` flag (v1 events are upcast with ``False``).
    v3: ``follows_up`` names the earlier referral (one need's referral id) this one is a
    follow-up service to, on the same need (v2 events are upcast with none).
    """

    service = "case"
    version = 3
    referral_id: UuidString
    needs: Needs
    urgency: Urgency
    categories: Categories
    region: Region
    district: str | None
    sex: Sex
    age_band: AgeBand
    language: Language
    interpreter_needed: bool = False
    disability: bool
    consent: ConsentScope
    emergency_without_consent: bool
    emergency_reason: Sealed | None
    note: Sealed | None
    office: Office | None
    caseworker: Subject
    # A follow-up service on a long-term need (a prosthesis repaired, then replaced): the
    # earlier referral of the same case and need, completed (docs/case-domain.md).
    follows_up: UuidString | None = None

    @model_validator(mode="after")
    def _emergency_rule(self) -> ReferralRequested:
        if self.emergency_without_consent:
            if self.urgency != "emergency" or self.emergency_reason is None:
                raise ValueError("sharing without consent needs an emergency and its reason")
            if self.consent.consent_id is not None:
                raise ValueError("an emergency without consent carries no consent id")
        elif self.consent.consent_id is None:
            raise ValueError("a referral without consent must be an emergency")
        if self.district is not None and self.district not in DISTRICTS[self.region]:
            raise ValueError(f"district {self.district!r} is not in region {self.region!r}")
        return self


@registry.upcaster("case", "ReferralRequested", 1)
def _referral_requested_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 request came from a profile without the interpreter flag."""
    return {"interpreter_needed": False, **data}


@registry.upcaster("case", "ReferralRequested", 2)
def _referral_requested_v2_to_v3(data: dict[str, Any]) -> dict[str, Any]:
    """A v2 request followed up no earlier referral."""
    return {"follows_up": None, **data}


@registry.register
class CaseNoteAdded(Event):
    service = "case"
    note_id: Identifier
    note: Sealed


@registry.register
class CaseClosed(Event):
    service = "case"
    reason: CloseReason
    note: Sealed | None = None


@registry.register
class CaseReopened(Event):
    service = "case"
    reason: ReopenReason
    note: Sealed | None = None


@registry.register
class CaseTransferred(Event):
    """Responsibility moved to another caseworker and/or office."""

    service = "case"
    from_caseworker: Subject
    to_caseworker: Subject
    from_office: Office | None
    to_office: Office | None


@registry.register
class IdentityErased(Event):
    """The case key was destroyed: every sealed field of the case is now unreadable."""

    service = "case"
    erased_by: Subject
    reason_code: ErasureReason


@registry.register
class CaseAccessed(Event):
    """Someone read identifying fields of the case (the audit trail of reads)."""

    service = "case"
    who: Subject
    role: Role
    fields: AccessedFields
    endpoint: Endpoint


CASE_EVENTS: tuple[type[Event], ...] = (
    CaseOpened,
    SurvivorProfileRecorded,
    SurvivorProfileUpdated,
    NeedsAssessed,
    IdentificationRecorded,
    ConsentGiven,
    ConsentWithdrawn,
    ReferralRequested,
    CaseNoteAdded,
    CaseClosed,
    CaseReopened,
    CaseTransferred,
    IdentityErased,
    CaseAccessed,
)
