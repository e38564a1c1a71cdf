"""What may be asked of the statistics: measures, dimensions and their values.

Every dimension is a clear, non-identifying field (the profile's routing fields, the
period, and referral facts); nothing a person could be found by (no office, caseworker,
provider id, case id, date) is a dimension or an output. A measure names the dimensions
it can be broken down by; new facts (issues 13 and 14) slot in as new dimensions of
``stat_case`` or new fact kinds, with a line here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal, get_args

from shared.events.case_facts import (
    ExploitationForm,
    ProcedureStage,
    RecruitmentChannel,
    TraffickingScope,
)
from shared.events.case_person import AssistiveDevice, DeviceAction
from shared.events.referral import ServiceOutcome
from shared.events.vocabulary import AGE_BANDS, CATEGORIES, DISTRICTS, REGIONS, SERVICE_TYPES

Dimension = Literal[
    "category", "sex", "age_band", "child", "disability", "disability_kind", "region",
    "district", "identification", "nationality_group", "victim", "casualty", "device_type",
    "incident_year", "incident_district", "month", "quarter", "year", "need",
    "provider_type", "outcome", "decision", "stage", "device", "device_action",
    "service_outcome", "trafficking_scope", "recruitment_channel", "procedure_stage",
    "exploitation_form",
]  # fmt: skip
DIMENSIONS: tuple[str, ...] = get_args(Dimension)

MeasureName = Literal[
    "cases_opened", "cases_active", "cases_closed", "referrals", "escalations",
    "services_started", "services_completed", "time_to_first_answer", "time_to_service_start",
    "casualties", "identifications", "reflection_periods", "assignments_by_hand",
    "assistive_devices", "service_outcomes", "needs_unmet",
]  # fmt: skip

CASE_DIMENSIONS = (
    "category", "sex", "age_band", "child", "disability", "disability_kind", "region",
    "district", "identification", "nationality_group",
    # issue 14's single-valued category facts (stat_case, migration 0018)
    "trafficking_scope", "recruitment_channel", "procedure_stage", "exploitation_form",
)  # fmt: skip
# Dimensions with several values per case (a ``stat_case`` list column): a case counts once
# in each of its values' rows, so such a table's total counts pairs (``multi_valued``).
LIST_DIMENSIONS = {"category": "categories", "exploitation_form": "exploitation_forms"}
MINE_DIMENSIONS = ("victim", "casualty", "device_type", "incident_year", "incident_district")
PERIOD_DIMENSIONS = ("month", "quarter", "year")
REFERRAL_DIMENSIONS = ("need", "provider_type", "outcome")

_ALL_DISTRICTS = tuple(d for r in REGIONS for d in DISTRICTS[r])
# The values shown as rows/columns (all of them, so an empty cell shows as 0). ``None``:
# the values are the ones found (years of incidents) or follow from the period.
VALUES: dict[str, tuple[str, ...] | None] = {
    "category": CATEGORIES,
    "sex": ("female", "male", "other", "unknown"),
    "age_band": AGE_BANDS,
    "child": ("child", "adult", "unknown"),
    "disability": ("yes", "no", "unknown"),
    "disability_kind": (
        "physical",
        "visual",
        "hearing",
        "speech",
        "intellectual",
        "psychosocial",
        "multiple",
        "other",
        "unknown",
        "none",
    ),
    "region": REGIONS,
    "district": (*_ALL_DISTRICTS, "unknown"),
    "identification": ("none", "presumed", "identified", "not_identified"),
    "nationality_group": (
        "citizen",
        "foreign_national",
        "stateless",
        "asylum_seeker",
        "refugee",
        "unknown",
    ),
    # 'none': the profile records no facts of that category; 'unknown': it does, not this.
    "trafficking_scope": (*get_args(TraffickingScope), "unknown", "none"),
    "recruitment_channel": (*get_args(RecruitmentChannel), "none"),  # has its own 'unknown'
    "procedure_stage": (*get_args(ProcedureStage), "unknown", "none"),
    "exploitation_form": (*get_args(ExploitationForm), "unknown", "none"),
    "victim": ("direct", "indirect", "unknown", "none"),
    "casualty": ("injured", "killed", "unknown", "none"),
    "device_type": None,
    "incident_year": None,
    "incident_district": (*_ALL_DISTRICTS, "unknown", "none"),
    "month": None,
    "quarter": None,
    "year": None,
    "need": SERVICE_TYPES,
    "provider_type": (
        "government",
        "ngo",
        "international",
        "un_agency",
        "red_crescent",
        "unknown",
        "none",
    ),
    "decision": ("presumed", "identified", "not_identified"),
    "stage": ("started", "extended", "ended"),
    "device": get_args(AssistiveDevice),
    "device_action": get_args(DeviceAction),
    "service_outcome": get_args(ServiceOutcome),
    "outcome": (
        "requested",
        "awaiting_answer",
        "accepted",
        "declined",
        "escalated",
        "in_service",
        "completed",
        "unroutable",
        "withdrawn",
        "unmet",
    ),
}

Base = Literal["opened", "active", "fact", "referral", "duration"]


@dataclass(frozen=True)
class Measure:
    name: str
    unit: str
    base: Base
    description: str
    kinds: tuple[str, ...] = ()  # fact kinds counted (base "fact")
    duration: tuple[str, str] | None = None  # (from, to) columns of the referral row
    referral_dimensions: bool = False
    period_dimensions: bool = True
    extra_dimensions: tuple[str, ...] = ()

    @property
    def dimensions(self) -> tuple[str, ...]:
        dims = CASE_DIMENSIONS + self.extra_dimensions
        if self.period_dimensions:
            dims += PERIOD_DIMENSIONS
        if self.referral_dimensions:
            dims += REFERRAL_DIMENSIONS
        return dims


MEASURES: dict[str, Measure] = {
    m.name: m
    for m in (
        Measure("cases_opened", "cases", "opened", "Cases opened in the period."),
        Measure(
            "cases_active",
            "cases",
            "active",
            "Cases open at the end of the period (or at as_of, when earlier).",
            period_dimensions=False,
        ),
        Measure("cases_closed", "cases", "fact", "Cases closed in the period.", ("case_closed",)),
        Measure(
            "referrals",
            "referrals",
            "referral",
            "Referrals (one per need) requested in the period, by their outcome as of the"
            " end of the reading.",
            referral_dimensions=True,
        ),
        Measure(
            "escalations",
            "escalations",
            "fact",
            "Referrals escalated in the period (a provider did not answer in time).",
            ("escalated",),
            referral_dimensions=True,
        ),
        Measure(
            "needs_unmet",
            "referrals",
            "fact",
            "Needs a coordinator closed as unmet in the period (no provider exists), by the"
            " decision's reason.",
            ("unmet",),
            referral_dimensions=True,
        ),
        Measure(
            "services_started",
            "referrals",
            "fact",
            "Services started in the period, per need.",
            ("service_started",),
            referral_dimensions=True,
        ),
        Measure(
            "services_completed",
            "referrals",
            "fact",
            "Services completed (delivered) in the period, per need.",
            ("service_completed",),
            referral_dimensions=True,
        ),
        Measure(
            "time_to_first_answer",
            "hours",
            "duration",
            "Hours from a referral's first routing to the first provider's answer (accept or"
            " decline), for answers in the period: median and 90th percentile.",
            duration=("routed_at", "answered_at"),
            referral_dimensions=True,
        ),
        Measure(
            "time_to_service_start",
            "hours",
            "duration",
            "Hours from the referral request to the start of the service, for services"
            " started in the period: median and 90th percentile.",
            duration=("requested_at", "started_at"),
            referral_dimensions=True,
        ),
        Measure(
            "identifications",
            "decisions",
            "fact",
            "NRM identification decisions recorded in the period, by decision (presumed,"
            " identified, not identified).",
            ("identification",),
            extra_dimensions=("decision",),
        ),
        Measure(
            "reflection_periods",
            "events",
            "fact",
            "Recovery and reflection periods started, extended and ended in the period, by stage.",
            ("reflection_started", "reflection_extended", "reflection_ended"),
            extra_dimensions=("stage",),
        ),
        Measure(
            "assignments_by_hand",
            "referrals",
            "fact",
            "Referrals a coordinator assigned by hand in the period (outside the automatic"
            " rules); provider_type is the kind of the provider chosen.",
            ("assigned_by_hand",),
            referral_dimensions=True,
        ),
        Measure(
            "service_outcomes",
            "referrals",
            "fact",
            "Service outcomes the providers recorded in the period (delivered, partly"
            " delivered, not delivered), per need: an outcome completes the referral.",
            ("outcome_recorded",),
            referral_dimensions=True,
            extra_dimensions=("service_outcome",),
        ),
        Measure(
            "assistive_devices",
            "devices",
            "fact",
            "Assistive devices fitted, repaired or replaced in the period, by device and"
            " device_action.",
            ("assistive_device",),
            extra_dimensions=("device", "device_action"),
        ),
        Measure(
            "casualties",
            "cases",
            "opened",
            "Mine/EO casualties (cases whose profile records the incident, cases linked to a"
            " relative killed, persons killed recorded), by when their case or record was"
            " opened; break down by casualty (killed/injured), victim (direct/indirect),"
            " device_type, incident_year, incident_district.",
            extra_dimensions=MINE_DIMENSIONS,
        ),
    )
}
assert set(MEASURES) == set(get_args(MeasureName))

# Asked for by the issue and not carried by any event yet: listed, never faked.
NOT_YET_AVAILABLE: dict[str, str] = {
    "casualties_without_case": "Casualties known only to the national casualty record (no case"
    " in Safepath) are not counted: Safepath counts the people it holds cases for.",
    "indirect_victims_without_case": "Family members affected (indirect victims) are counted"
    " only when they have a case of their own (victim = indirect in its profile, or linked"
    " to the casualty record of a relative killed).",
}

MAX_MONTHS = 60


def month_starts(first: date, last: date) -> list[date]:
    """The first day of every month from ``first``'s month to ``last``'s, inclusive."""
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def period_values(dimension: str, first: date, last: date) -> tuple[str, ...]:
    months = month_starts(first, last)
    if dimension == "month":
        return tuple(f"{d:%Y-%m}" for d in months)
    if dimension == "quarter":
        return tuple(dict.fromkeys(f"{d.year}-Q{(d.month - 1) // 3 + 1}" for d in months))
    return tuple(dict.fromkeys(str(d.year) for d in months))
