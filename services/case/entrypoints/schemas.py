"""Request bodies of the case API: strict (``extra="forbid"``), bounded, from the shared
vocabularies, so invalid input is a 422 with field paths and changes nothing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from services.case.entrypoints.examples import EXAMPLES
from services.case.entrypoints.schemas_facts import FACT_FIELDS, MineIn, RefugeeIn, TraffickingIn
from shared.events.case import (
    Agency,
    Categories,
    CitizenshipStatus,
    CloseReason,
    Code,
    ConsentGiver,
    ConsentPurpose,
    CountryCode,
    DataCategories,
    DisabilityKind,
    IdentificationBasis,
    IdentificationStatus,
    Identifier,
    IdentifyingDetails,
    Needs,
    Office,
    ProviderIds,
    ReopenReason,
    ServiceTypes,
    Subject,
)
from shared.events.case_reflection import ExtensionReason, NotIdentifiedReason
from shared.events.case_transfer import TransferRefusal
from shared.events.vocabulary import DISTRICTS, Language, Region, Sex, Urgency
from shared.times import UtcDatetime

EARLIEST_BIRTH = date(1900, 1, 1)
# The earliest time zone is UTC+14: a birth "today" anywhere is at most this far ahead.
_AHEAD = timedelta(hours=14)

ShortText = Annotated[str, Field(min_length=1, max_length=2_000)]
LongText = Annotated[str, Field(min_length=1, max_length=10_000)]


def _not_future_birth(value: date | None) -> date | None:
    # Messages never quote the value: a birth date is identifying.
    if value is not None and value > (datetime.now(UTC) + _AHEAD).date():
        raise ValueError("a date of birth cannot be in the future")
    if value is not None and value < EARLIEST_BIRTH:
        raise ValueError("a date of birth cannot be before 1900-01-01")
    return value


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ProfileIn(Body):
    """The survivor profile. Names, birth date, contact, address, documents and narrative
    are sealed with the case key; the other fields stay in clear for routing."""

    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["profile"]]})

    given_name: Annotated[str, Field(max_length=100)] | None = None
    family_name: Annotated[str, Field(max_length=100)] | None = None
    date_of_birth: Annotated[date | None, AfterValidator(_not_future_birth)] = None
    estimated_age_years: Annotated[int, Field(ge=0, le=130)] | None = None
    contact_arrangement: Annotated[str, Field(max_length=500)] | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    document_numbers: Annotated[
        list[Annotated[str, Field(min_length=1, max_length=64)]], Field(max_length=10)
    ] = []
    narrative: Annotated[str, Field(max_length=10_000)] | None = None
    sex: Sex
    disability: bool = False
    disability_kind: DisabilityKind | None = None
    nationality: CountryCode | None = None
    citizenship_status: CitizenshipStatus = "unknown"
    language: Language
    # The language's name when ``language`` is ``other`` (sealed: it is free text).
    language_label: Annotated[str, Field(min_length=1, max_length=60)] | None = Field(
        None, validate_default=True
    )
    interpreter_needed: bool = False
    region: Region
    district: str | None = Field(None, max_length=40)
    categories: Categories
    # What each category's services depend on (schemas_facts.py); only for its category.
    trafficking: TraffickingIn | None = None
    mine_eo: MineIn | None = None
    refugee_asylum: RefugeeIn | None = None

    @field_validator("language_label")
    @classmethod
    def _label_names_an_other_language(cls, label: str | None, info: ValidationInfo) -> str | None:
        language = info.data.get("language")  # absent when it failed validation itself
        if language is not None and (language == "other") != (label is not None):
            raise ValueError("a language label is given exactly when the language is other")
        return label

    @model_validator(mode="after")
    def _consistent(self) -> ProfileIn:
        if self.disability_kind is not None and not self.disability:
            raise ValueError("disability_kind given without disability")
        if self.district is not None and self.district not in DISTRICTS[self.region]:
            raise ValueError("district is not in the region")
        for name in FACT_FIELDS:
            if getattr(self, name) is not None and name not in self.categories:
                raise ValueError(f"{name} facts need the {name} category")
        return self

    def _facts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """(sealed category details, clear category facts) of the given categories."""
        sealed: dict[str, Any] = {}
        clear: dict[str, Any] = {}
        for name in FACT_FIELDS:
            given: TraffickingIn | MineIn | RefugeeIn | None = getattr(self, name)
            if given is not None:
                details, facts = given.split()
                sealed.update({k: v for k, v in details.items() if v is not None})
                clear[name] = facts
        return sealed, clear

    def identifying(self) -> IdentifyingDetails:
        own = self.model_dump(include=set(IdentifyingDetails.model_fields))
        return IdentifyingDetails(**own, **self._facts()[0])

    def clear(self) -> dict[str, Any]:
        """The routing fields and category facts (the age band is computed when sealing)."""
        fields = self.model_dump(exclude={*IdentifyingDetails.model_fields, *FACT_FIELDS})
        return {**fields, **self._facts()[1]}


class OpenCaseIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["open"]]})

    region: Region
    categories: Categories
    office: Office | None = Field(
        None, description="Only supervisors and admins may name an office other than their own."
    )
    profile: ProfileIn | None = None

    @model_validator(mode="after")
    def _profile_matches(self) -> OpenCaseIn:
        if self.profile is not None:
            if self.profile.region != self.region:
                raise ValueError("profile.region must equal region")
            if set(self.profile.categories) != set(self.categories):
                raise ValueError("profile.categories must equal categories")
        return self


class NeedsIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["needs"]]})

    needs: ServiceTypes = Field(description="`[]`: assessed, no needs found.")
    note: LongText | None = None


class IdentificationIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["identification"]]})

    status: IdentificationStatus
    basis: IdentificationBasis
    deciding_agency: Agency
    note: LongText | None = None
    reason_code: NotIdentifiedReason | None = Field(
        None,
        description="Required for `not_identified` while the reflection period runs (which"
        " only a supervisor may then record).",
    )


class CaseReference(BaseModel):
    """A case found by its pseudonymous reference."""

    id: str
    case_reference: str


class ReflectionExtensionIn(Body):
    """Extend the running recovery and reflection period."""

    days: int = Field(ge=1, le=365, examples=[14])
    reason_code: ExtensionReason = Field(examples=["medical_treatment"])


class ConsentIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["consent"]]})

    purpose: ConsentPurpose
    service_types: ServiceTypes = []
    provider_ids: ProviderIds = []
    data_categories: Annotated[DataCategories, Field(min_length=1)]
    given_by: ConsentGiver = "survivor"
    expires_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _names_recipients(self) -> ConsentIn:
        if not self.service_types and not self.provider_ids:
            raise ValueError("name recipient service_types or provider_ids")
        return self


class WithdrawConsentIn(Body):
    reason_code: Code | None = None


class ReferralIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["referral"]]})

    needs: Needs
    urgency: Urgency
    consent_id: Identifier | None = Field(
        None, description="The consent to share under; default: the newest that covers."
    )
    emergency_reason: ShortText | None = Field(
        None, description="Required for an emergency without covering consent (sealed)."
    )
    note: LongText | None = None
    follows_up: UUID | None = Field(
        None,
        description="A follow-up service on a long-term need: the earlier referral (one"
        " need's referral id, as `GET /cases/{id}` shows it) of this case, completed; the"
        " request is then for that need alone.",
    )


class NoteIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["note"]]})

    text: LongText


class CloseIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "services_completed"}]})

    reason: CloseReason
    note: LongText | None = None


class ReopenIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "new_needs"}]})

    reason: ReopenReason
    note: LongText | None = None


class TransferIn(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [EXAMPLES["transfer"]]})

    to_caseworker: Subject | None = None
    to_office: Office | None = None

    @model_validator(mode="after")
    def _names_someone(self) -> TransferIn:
        if self.to_caseworker is None and self.to_office is None:
            raise ValueError("name to_caseworker, to_office or both")
        return self


class CaseWritten(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": EXAMPLES["case_id"], "version": 3}]}
    )

    id: str
    version: int = Field(description="The case's stream version after the write (the ETag).")


class PossibleDuplicateOut(Body):
    case_id: str
    score: float = Field(description="1.0: same names and birth date; lower: looser matches.")
    in_scope: bool = Field(
        description="Whether you may read that case. No identifying field of another case"
        " is ever returned here: read it with GET /cases/{id} (recorded) when in scope."
    )


class CaseOpenedOut(CaseWritten):
    possible_duplicates: list[PossibleDuplicateOut] = Field(
        default_factory=list,
        description="Other cases whose blind identity keys match this person's (issue 14).",
    )


class ProfileWritten(CaseWritten):
    possible_duplicates: list[PossibleDuplicateOut] = Field(
        default_factory=list,
        description="Other cases whose blind identity keys match the profile as written"
        " (issue 14), as in the answer to POST /cases.",
    )


class ConsentRecorded(CaseWritten):
    consent_id: str


class ReferralAccepted(CaseWritten):
    referral_id: str


class NoteAdded(CaseWritten):
    note_id: str


class TransferRequested(CaseWritten):
    transfer_id: str = Field(description="For the receiving side's accept or refuse.")


class IncomingTransfer(Body):
    """A transfer waiting for the caller's answer: ids and offices, never the person."""

    case_id: str
    transfer_id: str
    from_office: str | None
    to_caseworker: str | None
    to_office: str | None
    requested_at: datetime
    expires_at: datetime | None = Field(
        description="Answer before this; afterwards the request has expired (null: never)."
    )


class TransferRefusalIn(Body):
    reason_code: TransferRefusal
