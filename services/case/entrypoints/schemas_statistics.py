"""The query of ``GET /statistics/{measure}`` (and of the charts and reports): validated
before any SQL is built, every error a 422 naming its parameter (``query.rows``)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.case.app.statistics.catalogue import (
    MAX_MONTHS,
    MEASURES,
    VALUES,
    Dimension,
    month_starts,
)
from shared.events.case import DisabilityKind
from shared.events.vocabulary import DISTRICTS, AgeBand, Category, Region, ServiceType, Sex
from shared.problems import ProblemFieldError, unprocessable

Month = str  # YYYY-MM
MONTH_PATTERN = r"^(19|20|21)\d\d-(0[1-9]|1[0-2])$"

# The dimensions one may filter on, with their values' types.
FILTERS = (
    "category", "sex", "age_band", "child", "disability", "disability_kind", "region",
    "district", "identification", "nationality_group", "victim", "casualty", "need",
    "provider_type", "outcome", "decision", "stage", "trafficking_scope",
    "recruitment_channel", "procedure_stage", "exploitation_form",
)  # fmt: skip


class PeriodParams(BaseModel):
    """The period (whole months), what is read (``as_of``) and the threshold."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(
        None,
        alias="from",
        pattern=MONTH_PATTERN,
        description="First month of the period (YYYY-MM). Default: 11 months before `to`.",
    )
    to: str | None = Field(
        None, pattern=MONTH_PATTERN, description="Last month, inclusive. Default: this month."
    )
    as_of: date | None = Field(
        None, description="Read the records as they stood at the end of this day (UTC)."
    )
    k: int | None = Field(
        None, ge=2, le=1000, description="A stricter threshold than the configured one."
    )

    def months(self, today: date) -> tuple[date, date]:
        last = _month(self.to) if self.to else date(today.year, today.month, 1)
        first = _month(self.from_) if self.from_ else _back(last, 11)
        if first > last:
            raise unprocessable(
                "The period ends before it starts.",
                [ProblemFieldError(path="query.to", message="before `from`", type="period")],
            )
        if len(month_starts(first, last)) > MAX_MONTHS:
            raise unprocessable(
                f"The period is longer than {MAX_MONTHS} months.",
                [
                    ProblemFieldError(
                        path="query.from",
                        message=f"at most {MAX_MONTHS} months before `to`",
                        type="period",
                    )
                ],
            )
        return first, last

    def threshold(self, configured: int) -> int:
        if self.k is not None and self.k < configured:
            raise unprocessable(
                "The threshold may be raised, never lowered.",
                [ProblemFieldError(path="query.k", message=f"at least {configured}", type="k")],
            )
        return self.k or configured


class ReportParams(PeriodParams):
    format: Literal["json", "csv", "xlsx"] = "json"


class StatisticsParams(PeriodParams):
    rows: Dimension = Field("region", description="The dimension of the rows.")
    columns: Dimension | None = Field(None, description="The dimension of the columns.")
    category: Category | None = None
    sex: Sex | None = None
    age_band: AgeBand | None = None
    child: Literal["child", "adult", "unknown"] | None = None
    disability: Literal["yes", "no", "unknown"] | None = None
    disability_kind: DisabilityKind | Literal["unknown", "none"] | None = None
    region: Region | None = None
    district: str | None = Field(None, max_length=40)
    identification: Literal["none", "presumed", "identified", "not_identified"] | None = None
    nationality_group: (
        Literal["citizen", "foreign_national", "stateless", "asylum_seeker", "refugee", "unknown"]
        | None
    ) = None
    victim: Literal["direct", "indirect", "unknown", "none"] | None = None
    casualty: Literal["injured", "killed", "unknown", "none"] | None = None
    decision: Literal["presumed", "identified", "not_identified"] | None = None
    stage: Literal["started", "extended", "ended"] | None = None
    # Issue 14's category facts, checked against the catalogue's values (its vocabulary,
    # 'unknown', and 'none': no facts of that category recorded).
    trafficking_scope: str | None = Field(None, max_length=40)
    recruitment_channel: str | None = Field(None, max_length=40)
    procedure_stage: str | None = Field(None, max_length=40)
    exploitation_form: str | None = Field(None, max_length=40)
    need: ServiceType | None = None
    provider_type: (
        Literal["government", "ngo", "international", "un_agency", "red_crescent", "unknown"] | None
    ) = None
    outcome: (
        Literal[
            "requested",
            "awaiting_answer",
            "accepted",
            "declined",
            "escalated",
            "in_service",
            "completed",
            "unroutable",
            "withdrawn",
        ]
        | None
    ) = None

    @field_validator("district")
    @classmethod
    def _known_district(cls, v: str | None) -> str | None:
        if v is not None and v != "unknown" and all(v not in ds for ds in DISTRICTS.values()):
            raise ValueError("not a district of the vocabulary")
        return v

    @field_validator(
        "trafficking_scope", "recruitment_channel", "procedure_stage", "exploitation_form"
    )
    @classmethod
    def _in_vocabulary(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and v not in (VALUES[str(info.field_name)] or ()):
            raise ValueError("not a value of this dimension")
        return v

    def filters(self) -> dict[str, str]:
        return {f: str(getattr(self, f)) for f in FILTERS if getattr(self, f) is not None}

    def check_for(self, measure: str) -> None:
        """Every dimension asked (rows, columns, filters) must be one the measure has."""
        allowed = MEASURES[measure].dimensions
        errors = [
            ProblemFieldError(
                path=f"query.{name}", message=f"not a dimension of {measure}", type="dimension"
            )
            for name, dim in (
                ("rows", self.rows),
                ("columns", self.columns),
                *((f, f) for f in self.filters()),
            )
            if dim is not None and dim not in allowed
        ]
        if self.columns is not None and self.columns == self.rows:
            errors.append(
                ProblemFieldError(path="query.columns", message="same as rows", type="dimension")
            )
        if errors:
            raise unprocessable("The question asks for what this measure cannot give.", errors)


def _month(value: str) -> date:
    return date(int(value[:4]), int(value[5:7]), 1)


def _back(d: date, months: int) -> date:
    n = d.year * 12 + d.month - 1 - months
    return date(n // 12, n % 12 + 1, 1)
