"""Request and response bodies of the person routes (devices, family links, duplicates)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.case.entrypoints.schemas import CaseWritten
from services.case.entrypoints.schemas_facts import past_date
from shared.events.case import Identifier
from shared.events.case_person import AssistiveDevice, DeviceAction, FamilyRelation
from shared.events.vocabulary import Region


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DeviceIn(Body):
    device_id: Identifier | None = Field(
        None, description="Omit when fitting a new device (one is chosen); required otherwise."
    )
    device: AssistiveDevice
    action: DeviceAction
    on: Annotated[date, AfterValidator(past_date)]
    provider_id: Identifier | None = None

    @model_validator(mode="after")
    def _names_the_device(self) -> DeviceIn:
        if self.action != "fitted" and self.device_id is None:
            raise ValueError("a repair or replacement names the device_id that was fitted")
        return self


class DeviceRecorded(CaseWritten):
    device_id: str


class FamilyLinkIn(Body):
    other_case_id: UUID
    relation: FamilyRelation = Field(description="What the other case's person is to this one.")


class PairIn(Body):
    case_a: UUID
    case_b: UUID

    @model_validator(mode="after")
    def _two_cases(self) -> PairIn:
        if self.case_a == self.case_b:
            raise ValueError("a pair is two different cases")
        return self


class PairWrittenOut(Body):
    case_a: str
    case_b: str
    version_a: int
    version_b: int


PairStatus = Literal["pending", "linked", "dismissed"]


class PairCase(Body):
    case_id: str
    region: Region
    office: str | None
    status: Literal["open", "closed"]
    in_scope: bool


class DuplicatePairView(Body):
    a: PairCase
    b: PairCase
    score: float
    status: PairStatus
    found_at: datetime
    decided_at: datetime | None
    decided_by: str | None


class DuplicatePage(Body):
    items: list[DuplicatePairView]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page (null on the last)."
    )
