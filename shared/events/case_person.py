"""Case events about the person across cases and over time (issue 14): assistive devices,
family links between cases, and the supervisor's decisions on possible duplicates.

Every field here is clear: ids of other cases, vocabulary values and dates of service
events. Which cases a person has, and who their family is, is decided by people in
scope (see ``docs/case-domain.md``); the events never carry a name.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

from shared.events.base import Event, Sealed
from shared.events.case import Identifier, Office, Subject, UuidString
from shared.events.case_facts import DeviceType, District, IncidentActivity, Year
from shared.events.registry import registry
from shared.events.vocabulary import AgeBand, Region, Sex

AssistiveDevice = Literal[
    "lower_limb_prosthesis",
    "upper_limb_prosthesis",
    "orthosis",
    "wheelchair",
    "crutches_or_walking_aid",
    "hearing_aid",
    "spectacles_or_low_vision_aid",
    "other",
]
DeviceAction = Literal["fitted", "repaired", "replaced"]
# What the person of the *other* case is to the person of this case.
FamilyRelation = Literal["parent", "child", "sibling", "spouse", "other_family"]

CASUALTY_PREFIX = "casualty-"
CasualtyId = Annotated[
    str,
    StringConstraints(
        pattern=r"^casualty-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    ),
]


class CasualtyDetails(BaseModel):
    """The plaintext sealed into ``CasualtyRecorded.identifying`` (never in clear)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    given_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    family_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    date_of_birth: date | None = None
    estimated_age_years: int | None = None
    incident_date: date | None = None
    casualty_record_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


INVERSE_RELATION: dict[str, FamilyRelation] = {
    "parent": "child",
    "child": "parent",
    "sibling": "sibling",
    "spouse": "spouse",
    "other_family": "other_family",
}


@registry.register
class AssistiveDeviceRecorded(Event):
    """A device was fitted, repaired or replaced (one ``device_id`` per device over time)."""

    service = "case"
    device_id: Identifier
    device: AssistiveDevice
    action: DeviceAction
    on: date
    provider_id: Identifier | None = None


@registry.register
class FamilyLinked(Event):
    """This case's person and the other case's person are family (recorded on both)."""

    service = "case"
    other_case_id: UuidString
    relation: FamilyRelation  # what the other case's person is to this one


@registry.register
class FamilyUnlinked(Event):
    service = "case"
    other_case_id: UuidString


@registry.register
class SamePersonLinked(Event):
    """A supervisor decided both cases are about one person (recorded on both)."""

    service = "case"
    other_case_id: UuidString


@registry.register
class SamePersonUnlinked(Event):
    """The link was a mistake (recorded on both cases)."""

    service = "case"
    other_case_id: UuidString


@registry.register
class DuplicateDismissed(Event):
    """A supervisor decided a suggested pair is two different people (on both cases)."""

    service = "case"
    other_case_id: UuidString


@registry.register
class DuplicateDismissalReverted(Event):
    """The dismissal is taken back: the pair is pending again (on both cases)."""

    service = "case"
    other_case_id: UuidString


# -- casualty records: a person killed, who has no survivor case ---------------------------------


@registry.register
class CasualtyRecorded(Event):
    """A person killed by a mine or explosive ordnance (stream ``casualty-<uuid>``).

    Not a survivor case: no services, no referrals. Names, birth date, the incident date
    and the national casualty-database id are sealed under the record's own key; the
    rest is clear, for the casualty statistics (killed, by sex, age, year, district).
    """

    service = "case"
    identifying: Sealed  # CasualtyDetails under the record's key
    sex: Sex
    age_band: AgeBand  # at the incident when its date and the birth date are known
    region: Region  # of the incident district
    incident_district: District
    incident_year: Year | None = None
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    office: Office | None
    caseworker: Subject  # who recorded it (scope, as for a case)


@registry.register
class CasualtyCorrected(Event):
    """A casualty record corrected: the whole record as it now stands (issue 14).

    ``identifying`` replaces the sealed details (under the record's own key); the clear
    facts replace the recorded ones. The incident stays in the record's region (its
    scope): a district of another region is refused, not a transfer.
    """

    service = "case"
    identifying: Sealed  # CasualtyDetails under the record's key
    sex: Sex
    age_band: AgeBand
    incident_district: District
    incident_year: Year | None = None
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    corrected_by: Subject


@registry.register
class CasualtyLinked(Event):
    """This case's person is family of a person killed (an indirect victim)."""

    service = "case"
    casualty_id: CasualtyId
    relation: FamilyRelation  # what the person killed was to this case's person


PERSON_EVENTS: tuple[type[Event], ...] = (
    AssistiveDeviceRecorded,
    FamilyLinked,
    FamilyUnlinked,
    SamePersonLinked,
    SamePersonUnlinked,
    DuplicateDismissed,
    DuplicateDismissalReverted,
    CasualtyRecorded,
    CasualtyCorrected,
    CasualtyLinked,
)
