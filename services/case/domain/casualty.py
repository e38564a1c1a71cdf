"""Casualty records: a person killed by a mine or explosive ordnance, who has no survivor
case (stream ``casualty-<uuid>``). Recorded once, corrected any number of times until its
identity is erased, erased at most once; family in survivor cases link to it
(``LinkCasualty``, decided on the case in ``domain/person.py``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from services.case.domain.errors import (
    CaseAlreadyExists,
    CaseNotFound,
    CorruptStream,
    IdentityErasedError,
    InvalidTransition,
)
from shared.events.base import Event, Sealed
from shared.events.case import ErasureReason, IdentityErased, Office, Subject
from shared.events.case_facts import DeviceType, District, IncidentActivity, Year
from shared.events.case_person import CasualtyCorrected, CasualtyRecorded
from shared.events.vocabulary import AgeBand, Region, Sex


class RecordCasualty(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    identifying: Sealed
    sex: Sex
    age_band: AgeBand
    region: Region
    incident_district: District
    incident_year: Year | None = None
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    office: Office | None
    caseworker: Subject


class CorrectCasualty(BaseModel):
    """The record as it should stand (the app layer sealed the details). The region is
    the record's scope: the corrected district must lie in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    identifying: Sealed
    sex: Sex
    age_band: AgeBand
    region: Region  # of the corrected incident district
    incident_district: District
    incident_year: Year | None = None
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    corrected_by: Subject


class EraseCasualty(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    erased_by: Subject
    reason_code: ErasureReason


@dataclass(frozen=True)
class Casualty:
    """What scope needs of a casualty record (its scope never changes once recorded)."""

    region: str
    office: str | None
    caseworker: str
    identity_erased: bool = False
    corrections: int = 0


CasualtyCommand = RecordCasualty | CorrectCasualty | EraseCasualty


def decide_casualty(state: Casualty | None, command: CasualtyCommand) -> list[Event]:
    match command:
        case RecordCasualty():
            if state is not None:
                raise CaseAlreadyExists()
            return [CasualtyRecorded(**command.model_dump())]
        case CorrectCasualty():
            if state is None:
                raise CaseNotFound()
            if state.identity_erased:
                raise IdentityErasedError("correct")
            if command.region != state.region:
                raise InvalidTransition("a casualty record stays in its region")
            return [CasualtyCorrected(**command.model_dump(exclude={"region"}))]
        case EraseCasualty():
            if state is None:
                raise CaseNotFound()
            if state.identity_erased:
                raise IdentityErasedError("erase again")
            return [IdentityErased(**command.model_dump())]


def fold_casualty(events: Iterable[Event]) -> Casualty | None:
    state: Casualty | None = None
    for event in events:
        if isinstance(event, CasualtyRecorded):
            if state is not None:
                raise CorruptStream("CasualtyRecorded twice")
            state = Casualty(event.region, event.office, event.caseworker)
        elif isinstance(event, CasualtyCorrected) and state is not None:
            state = replace(state, corrections=state.corrections + 1)
        elif isinstance(event, IdentityErased) and state is not None:
            state = replace(state, identity_erased=True)
    return state
