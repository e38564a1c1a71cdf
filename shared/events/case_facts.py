"""What each kind of survivor's services depend on: the category facts of a profile.

These are the *clear* (statistical) facts: vocabularies, countries, districts, years.
What would single a person out (exact dates of exploitation, of the incident, of arrival,
the national casualty-database record id) travels sealed inside
``IdentifyingDetails``; the app layer derives the clear years from it, like the age band.
The statistics read model reads these fields by name: keep them flat and in clear.
See ``docs/case-domain.md`` (What is sealed and what is clear).
"""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.events.vocabulary import DISTRICTS

T = TypeVar("T")

# ISO 3166-1 alpha-2 (the same shape as ``case.CountryCode``; defined here to avoid a cycle).
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
# A year derived from a sealed date (1900 up to the present: the app layer checks both).
Year = Annotated[int, Field(ge=1900, le=9999)]

ALL_DISTRICTS: frozenset[str] = frozenset(d for ds in DISTRICTS.values() for d in ds)


def _distinct(values: list[T]) -> list[T]:
    if len(set(values)) != len(values):
        raise ValueError("values must be distinct")
    return values


def _known_district(value: str) -> str:
    if value not in ALL_DISTRICTS:
        raise ValueError("not a district of the vocabulary")
    return value


District = Annotated[str, AfterValidator(_known_district)]

# -- trafficking ----------------------------------------------------------------------------------

ExploitationForm = Literal[
    "sexual",
    "forced_labour",
    "domestic_servitude",
    "forced_begging",
    "forced_criminality",
    "forced_marriage",
    "organ_removal",
    "other",
]
TraffickingScope = Literal["internal", "cross_border"]
RecruitmentChannel = Literal[
    "job_offer",
    "acquaintance",
    "family_member",
    "intimate_partner",
    "recruitment_agency",
    "online",
    "abduction",
    "other",
    "unknown",
]


class Facts(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TraffickingFacts(Facts):
    """Forms, scope, where and how (the period's exact dates are sealed)."""

    exploitation_forms: Annotated[
        list[ExploitationForm], AfterValidator(_distinct), Field(max_length=8)
    ] = []
    scope: TraffickingScope | None = None
    exploitation_country: Country | None = None
    recruitment_channel: RecruitmentChannel | None = None
    # Derived from the sealed period: statistics need the year and the length, not the days.
    exploitation_start_year: Year | None = None
    exploitation_months: Annotated[int, Field(ge=0, le=1200)] | None = None


# -- mines and explosive ordnance -----------------------------------------------------------------

DeviceType = Literal[
    "anti_personnel_mine",
    "anti_vehicle_mine",
    "unexploded_ordnance",
    "abandoned_ordnance",
    "cluster_munition_remnant",
    "improvised_device",
    "unknown",
]
IncidentActivity = Literal[
    "herding",
    "farming",
    "collecting_wood_or_food",
    "collecting_scrap",
    "travelling",
    "playing",
    "handling_the_device",
    "demining",
    "military_or_border_duty",
    "other",
    "unknown",
]
VictimKind = Literal["direct", "indirect"]  # indirect: family of a person killed or injured
CasualtyOutcome = Literal["injured", "killed"]
InjuryKind = Literal["amputation", "eye", "hearing", "burns", "other"]
AmputationLevel = Literal[
    "upper_limb_below_elbow",
    "upper_limb_above_elbow",
    "hand_or_fingers",
    "lower_limb_below_knee",
    "lower_limb_above_knee",
    "foot_or_toes",
    "multiple",
]


class Injury(Facts):
    kind: InjuryKind
    amputation_level: AmputationLevel | None = None

    @model_validator(mode="after")
    def _level_only_for_amputation(self) -> Injury:
        if self.kind == "amputation" and self.amputation_level is None:
            raise ValueError("an amputation needs its level")
        if self.kind != "amputation" and self.amputation_level is not None:
            raise ValueError("amputation_level is only for an amputation")
        return self


class MineFacts(Facts):
    """The incident (its exact date and the national record id are sealed).

    A survivor case is about a living person: a direct victim's ``outcome`` is
    ``injured``; ``killed`` describes, for an indirect victim (family), what happened to
    the person they lost.
    """

    victim: VictimKind
    outcome: CasualtyOutcome = "injured"
    incident_district: District | None = None
    incident_year: Year | None = None  # derived from the sealed incident date
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    injuries: Annotated[list[Injury], Field(max_length=10)] = []

    @model_validator(mode="after")
    def _consistent(self) -> MineFacts:
        if self.victim == "direct" and self.outcome != "injured":
            raise ValueError("a direct victim with a case survived: outcome must be injured")
        if self.victim == "indirect" and self.injuries:
            raise ValueError("injuries are recorded for direct victims only")
        return self


# -- refugees and asylum seekers ------------------------------------------------------------------

ProcedureStage = Literal[
    "registered", "applied", "interviewed", "decided", "appeal", "recognised", "rejected"
]
DocumentHeld = Literal[
    "national_passport",
    "national_id_card",
    "birth_certificate",
    "asylum_seeker_certificate",
    "refugee_certificate",
    "residence_permit",
    "travel_document",
    "other",
]


class RefugeeFacts(Facts):
    """Where from, since when (the exact arrival date is sealed), where in the procedure."""

    country_of_origin: Country | None = None
    arrival_year: Year | None = None  # derived from the sealed arrival date
    procedure_stage: ProcedureStage | None = None
    documents_held: Annotated[
        list[DocumentHeld], AfterValidator(_distinct), Field(max_length=8)
    ] = []  # kinds only: document numbers are sealed with the identifying details
    detention_or_deportation_risk: bool = False
