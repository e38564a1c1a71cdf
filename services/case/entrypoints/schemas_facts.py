"""Request bodies of the category facts of a profile (issue 14).

Each body holds clear facts and the dates that would single a person out; ``split`` puts
the dates (and the national casualty record id) with the sealed identifying details and
derives the clear years from them, as the age band is derived from the birth date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from shared.events.case_facts import (
    CasualtyOutcome,
    Country,
    DeviceType,
    District,
    DocumentHeld,
    ExploitationForm,
    IncidentActivity,
    Injury,
    MineFacts,
    ProcedureStage,
    RecruitmentChannel,
    RefugeeFacts,
    TraffickingFacts,
    TraffickingScope,
    VictimKind,
)

EARLIEST = date(1900, 1, 1)
# The earliest time zone is UTC+14: "today" anywhere is at most this far ahead of UTC.
_AHEAD = timedelta(hours=14)


def past_date(value: date | None) -> date | None:
    """A date that has happened: not in the future, not before 1900 (value never echoed)."""
    if value is not None and value > (datetime.now(UTC) + _AHEAD).date():
        raise ValueError("the date cannot be in the future")
    if value is not None and value < EARLIEST:
        raise ValueError("the date cannot be before 1900-01-01")
    return value


PastDate = Annotated[date | None, AfterValidator(past_date)]


def months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


class FactsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TraffickingIn(FactsIn):
    exploitation_forms: Annotated[list[ExploitationForm], Field(max_length=8)] = []
    scope: TraffickingScope | None = None
    exploitation_country: Country | None = None
    recruitment_channel: RecruitmentChannel | None = None
    period_start: PastDate = Field(None, description="Sealed; its year stays in clear.")
    period_end: PastDate = Field(None, description="Sealed; the length in months stays clear.")

    @model_validator(mode="after")
    def _ordered(self) -> TraffickingIn:
        if len(set(self.exploitation_forms)) != len(self.exploitation_forms):
            raise ValueError("exploitation_forms must be distinct")
        if self.period_end is not None and self.period_start is None:
            raise ValueError("period_end needs period_start")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self

    def split(self) -> tuple[dict[str, Any], TraffickingFacts]:
        start, end = self.period_start, self.period_end
        facts = TraffickingFacts(
            **self.model_dump(exclude={"period_start", "period_end"}),
            exploitation_start_year=start.year if start else None,
            exploitation_months=months_between(start, end) if start and end else None,
        )
        return {"exploitation_started_on": start, "exploitation_ended_on": end}, facts


class MineIn(FactsIn):
    victim: VictimKind
    outcome: CasualtyOutcome = "injured"
    incident_date: PastDate = Field(None, description="Sealed; its year stays in clear.")
    incident_district: District | None = None
    device_type: DeviceType = "unknown"
    activity: IncidentActivity = "unknown"
    injuries: Annotated[list[Injury], Field(max_length=10)] = []
    casualty_record_id: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        None, description="The national casualty database's record id (sealed)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> MineIn:
        if self.victim == "direct" and self.outcome != "injured":
            raise ValueError("a direct victim with a case survived: outcome must be injured")
        if self.victim == "indirect" and self.injuries:
            raise ValueError("injuries are recorded for direct victims only")
        return self

    def split(self) -> tuple[dict[str, Any], MineFacts]:
        sealed = {
            "incident_date": self.incident_date,
            "casualty_record_id": self.casualty_record_id,
        }
        when = self.incident_date
        facts = MineFacts(
            **self.model_dump(exclude={"incident_date", "casualty_record_id"}),
            incident_year=when.year if when else None,
        )
        return sealed, facts


class RefugeeIn(FactsIn):
    country_of_origin: Country | None = None
    arrival_date: PastDate = Field(None, description="Sealed; its year stays in clear.")
    procedure_stage: ProcedureStage | None = None
    documents_held: Annotated[list[DocumentHeld], Field(max_length=8)] = []
    detention_or_deportation_risk: bool = False

    @model_validator(mode="after")
    def _distinct(self) -> RefugeeIn:
        if len(set(self.documents_held)) != len(self.documents_held):
            raise ValueError("documents_held must be distinct")
        return self

    def split(self) -> tuple[dict[str, Any], RefugeeFacts]:
        when = self.arrival_date
        facts = RefugeeFacts(
            **self.model_dump(exclude={"arrival_date"}),
            arrival_year=when.year if when else None,
        )
        return {"arrival_date": when}, facts


FACT_FIELDS = ("trafficking", "mine_eo", "refugee_asylum")
