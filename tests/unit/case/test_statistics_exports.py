"""Report files: the period, scope and suppression rule are in them, hidden figures stay
hidden, and no cell is a live spreadsheet formula (even if a value ever started with one)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from services.case.app.statistics.exports import to_csv, to_xlsx
from services.case.app.statistics.query import Question, Raw
from services.case.app.statistics.tables import publish
from services.case.entrypoints.schemas_statistics import PeriodParams
from shared.problems import ProblemError

EVIL = '=HYPERLINK("http://evil","x")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _report() -> dict[str, Any]:
    q = Question("cases_opened", "sex", "age_band", date(2026, 1, 1), date(2026, 3, 1))
    raw = Raw({("female", "18-24"): 3, ("female", "25-39"): 40, ("male", "18-24"): 12,
               ("male", "25-39"): 9, (EVIL, "18-24"): 7})  # fmt: skip
    table = publish(q, raw, 5)
    return {
        "report": "x",
        "title": "-1+1 a title a spreadsheet would run",
        "period": {"from": "2026-01", "to": "2026-03"},
        "as_of": None,
        "scope": {"region": "sughd"},
        "suppression": table["suppression"],
        "indicators": [
            {
                "action": "#32",
                "indicator": "@SUM(1)",
                "value": None,
                "shown": "<5",
                "period": "2026-01 to 2026-03",
                "note": "+n",
            }
        ],
        "sections": [{"title": EVIL, "table": table}],
    }


def test_csv_carries_period_scope_rule_and_no_formula() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(_report()).decode())))
    cells = [c for r in rows for c in r]
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)
    assert "'" + EVIL in cells
    about = {r[0]: r[1] for r in rows[:5]}
    assert about["Period"].startswith("2026-01 to 2026-03")
    assert about["Scope"] == "sughd"
    assert "<5" in about["Suppression"] and "x" in about["Suppression"]
    assert "3" not in [r[2] for r in rows if r and r[0] == "female"]  # the 3 is hidden
    assert "<5" in cells


def test_xlsx_has_no_formula_cell_and_says_what_it_covers() -> None:
    wb = load_workbook(io.BytesIO(to_xlsx(_report())))
    assert wb.sheetnames[0] == "About"
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                if isinstance(c.value, str):
                    assert not c.value.startswith(FORMULA_STARTS)
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows()}
    assert about["Scope"] == "sughd" and about["Period"].startswith("2026-01 to 2026-03")


def test_the_threshold_may_be_raised_never_lowered() -> None:
    assert PeriodParams(k=10).threshold(5) == 10
    assert PeriodParams().threshold(5) == 5
    with pytest.raises(ProblemError) as e:
        PeriodParams(k=3).threshold(5)
    assert e.value.status == 422


def test_a_period_is_whole_months_at_most_five_years() -> None:
    assert PeriodParams.model_validate({"from": "2022-01", "to": "2026-12"}).months(
        date(2026, 11, 29)
    ) == (date(2022, 1, 1), date(2026, 12, 1))
    assert PeriodParams().months(date(2026, 11, 29)) == (date(2025, 12, 1), date(2026, 11, 1))
    with pytest.raises(ProblemError):
        PeriodParams.model_validate({"from": "2021-12", "to": "2026-12"}).months(date.today())
