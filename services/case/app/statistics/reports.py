"""Ready-made reports: the Committee's victim-assistance indicators, the trafficking
coordinator's report and the donor summary (docs/statistics.md, "Reports").

A report is a list of sections, each a published (suppressed) table; the indicators table
has one row per Oslo Action Plan action with the figure Safepath can give for it. Every
figure goes through the same small-cell rule as ``GET /statistics``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

import asyncpg

from services.case.app.statistics.model import CASE, FACT
from services.case.app.statistics.query import Question, answer
from services.case.app.statistics.tables import publish, rule_text

ReportName = Literal["committee_indicators", "trafficking", "donor_summary"]


@dataclass(frozen=True)
class Section:
    title: str
    measure: str
    rows: str
    columns: str | None = None
    filters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Indicator:
    action: str
    title: str
    needs: tuple[str, ...]  # () = mine/EO cases opened; else survivors who started these
    note: str


@dataclass(frozen=True)
class Report:
    title: str
    sections: tuple[Section, ...]
    indicators: tuple[Indicator, ...] = ()


MINE = {"category": "mine_eo"}
TRAFFICKING = {"category": "trafficking"}
INDICATORS = (
    Indicator(
        "#32",
        "Mine/EO victims with a case, disaggregated by sex, age and disability",
        (),
        "Cases opened in the period; disaggregated in the tables below. Casualties with no"
        " case in Safepath are not counted.",
    ),
    Indicator(
        "#34",
        "Mine/EO survivors who started emergency or ongoing medical care",
        ("medical_emergency", "medical"),
        "Survivors with a referral for these needs whose service started in the period.",
    ),
    Indicator(
        "#35",
        "Mine/EO survivors who started rehabilitation, prosthetics or assistive technology",
        ("rehabilitation", "prosthetics_orthotics", "assistive_technology"),
        "As above, for these needs.",
    ),
    Indicator(
        "#36",
        "Mine/EO survivors who started psychological or psychosocial support",
        ("psychosocial", "peer_support"),
        "Survivors only: affected family members are counted when they have a case.",
    ),
    Indicator(
        "#37",
        "Mine/EO survivors who started social and economic inclusion services",
        (
            "vocational_training",
            "livelihood",
            "education",
            "material_assistance",
            "reintegration",
        ),
        "As above, for these needs.",
    ),
)

REPORTS: dict[str, Report] = {
    "committee_indicators": Report(
        "Victim assistance: the Committee's indicators (Oslo Action Plan #32-#37)",
        (
            Section(
                "Mine/EO cases opened, by sex and age band", "cases_opened", "age_band", "sex", MINE
            ),
            Section(
                "Mine/EO cases opened, by disability", "cases_opened", "disability", "child", MINE
            ),
            Section(
                "Mine/EO services started, by need and sex", "services_started", "need", "sex", MINE
            ),
            Section(
                "Mine/EO casualties with a case, by outcome and victim",
                "casualties",
                "casualty",
                "victim",
            ),
            Section(  # #35: assistive technology as delivered, not only as referred
                "Mine/EO assistive devices, by device and whether fitted, repaired or replaced",
                "assistive_devices",
                "device",
                "device_action",
                MINE,
            ),
        ),
        INDICATORS,
    ),
    "trafficking": Report(
        "Trafficking: presumed and identified victims and their referrals",
        (
            Section(
                "Cases opened, by identification status and sex",
                "cases_opened",
                "identification",
                "sex",
                TRAFFICKING,
            ),
            Section(
                "Cases opened, by age band and sex", "cases_opened", "age_band", "sex", TRAFFICKING
            ),
            Section(
                "Identification decisions, by decision and sex",
                "identifications",
                "decision",
                "sex",
                TRAFFICKING,
            ),
            Section(
                "Recovery and reflection periods, by stage and month",
                "reflection_periods",
                "month",
                "stage",
                TRAFFICKING,
            ),
            Section(
                "Cases opened, by nationality group",
                "cases_opened",
                "nationality_group",
                None,
                TRAFFICKING,
            ),
            Section(
                "Cases open at the end of the period, by region and identification",
                "cases_active",
                "region",
                "identification",
                TRAFFICKING,
            ),
            Section(  # issue 14's trafficking facts ('none': not recorded for the case)
                "Cases opened, by domestic or cross-border and sex",
                "cases_opened",
                "trafficking_scope",
                "sex",
                TRAFFICKING,
            ),
            Section(  # several forms per case: a case counts once in each (multi_valued)
                "Cases opened, by form of exploitation and sex",
                "cases_opened",
                "exploitation_form",
                "sex",
                TRAFFICKING,
            ),
            Section(
                "Cases opened, by recruitment channel and domestic or cross-border",
                "cases_opened",
                "recruitment_channel",
                "trafficking_scope",
                TRAFFICKING,
            ),
            Section("Referrals, by need and outcome", "referrals", "need", "outcome", TRAFFICKING),
            Section(
                "Hours to a provider's first answer, by need",
                "time_to_first_answer",
                "need",
                None,
                TRAFFICKING,
            ),
            Section(
                "Hours to the start of the service, by need",
                "time_to_service_start",
                "need",
                None,
                TRAFFICKING,
            ),
            Section("Escalations, by month", "escalations", "month", None, TRAFFICKING),
        ),
    ),
    "donor_summary": Report(
        "Donor summary: people assisted and services delivered",
        (
            Section("Cases opened, by category and quarter", "cases_opened", "quarter", "category"),
            Section("Cases opened, by category and sex", "cases_opened", "category", "sex"),
            Section(
                "Services delivered, by need and category", "services_completed", "need", "category"
            ),
            Section(
                "Referrals, by outcome and provider type", "referrals", "outcome", "provider_type"
            ),
            Section("Cases opened, by month", "cases_opened", "month"),
        ),
    ),
}


async def _indicator_figure(pool: asyncpg.Pool, ind: Indicator, q: Question) -> int:
    """Distinct survivors (cases) counted by one indicator."""
    args: list[Any] = [q.start, q.end]
    until = q.as_of_instant
    if not ind.needs:
        sql = f"""SELECT count(DISTINCT f.case_id) FROM {FACT} f
            WHERE f.kind = 'case_opened' AND f.at >= $1 AND f.at < $2"""
    else:
        args.append(list(ind.needs))
        sql = f"""SELECT count(DISTINCT f.case_id) FROM {FACT} f
            WHERE f.kind = 'service_started' AND f.at >= $1 AND f.at < $2
              AND EXISTS (SELECT 1 FROM {FACT} n WHERE n.referral_id = f.referral_id
                          AND n.need = ANY($3::text[]))"""
    if until is not None:
        args.append(until)
        sql += f" AND f.at < ${len(args)}"
    # the category as the case stood at as_of (or now); scope on the region now
    snap = "c.valid_to IS NULL"
    if until is not None:
        args.append(until)
        n = len(args)
        snap = f"c.valid_from < ${n} AND (c.valid_to IS NULL OR c.valid_to >= ${n})"
    sql += f""" AND EXISTS (SELECT 1 FROM {CASE} c WHERE c.case_id = f.case_id AND {snap}
                          AND 'mine_eo' = ANY(c.categories))"""
    if q.region_scope is not None:
        args.append(q.region_scope)
        sql += f""" AND EXISTS (SELECT 1 FROM {CASE} s WHERE s.case_id = f.case_id
                          AND s.valid_to IS NULL AND s.region = ${len(args)})"""
    return int(await pool.fetchval(sql, *args))


async def build(
    pool: asyncpg.Pool,
    name: str,
    first: date,
    last: date,
    as_of: date | None,
    region_scope: str | None,
    k: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The report ``name`` for the period; ``progress(done, total)`` after each part."""
    report = REPORTS[name]
    total = len(report.sections) + len(report.indicators)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    base = Question("cases_opened", None, None, first, last, as_of, {}, region_scope)
    out: dict[str, Any] = {
        "report": name,
        "title": report.title,
        "period": {"from": f"{first:%Y-%m}", "to": f"{last:%Y-%m}"},
        "as_of": None if as_of is None else as_of.isoformat(),
        "scope": {"region": region_scope},
        "suppression": {"k": k, "rule": rule_text(k)},
    }
    if report.indicators:
        rows = []
        for ind in report.indicators:
            figure = await _indicator_figure(pool, ind, base)
            step()
            hidden = 0 < figure < k  # one figure, no sum that could give it away

            rows.append(
                {
                    "action": ind.action,
                    "indicator": ind.title,
                    "value": None if hidden else figure,
                    "shown": f"<{k}" if hidden else str(figure),
                    "period": f"{first:%Y-%m} to {last:%Y-%m}",
                    "note": ind.note,
                }
            )
        out["indicators"] = rows
    sections = []
    for s in report.sections:
        q = Question(s.measure, s.rows, s.columns, first, last, as_of, s.filters, region_scope)
        table = publish(q, await answer(pool, q), k)
        sections.append({"title": s.title, "table": table})
        step()
    out["sections"] = sections
    return out
