"""A report as CSV or XLSX: the period, the scope and the suppression rule written into
the file, only published (suppressed) figures, and every text cell safe to open in a
spreadsheet (a leading ``=``, ``+``, ``-``, ``@``, tab or CR is neutralised, as in the
audit exports: ``services/case/entrypoints/spreadsheet.py``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import Cell

from services.case.entrypoints.spreadsheet import safe_cell

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Row = list[str | int | float | None]


def _about(report: dict[str, Any]) -> list[Row]:
    scope = report["scope"]["region"] or "national (all regions)"
    return [
        ["Safepath report", report["title"]],
        ["Period", f"{report['period']['from']} to {report['period']['to']} (whole months, UTC)"],
        ["As of", report["as_of"] or "as recorded when the file was made"],
        ["Scope", scope],
        ["Suppression", report["suppression"]["rule"]],
    ]


def _figure(cell: dict[str, Any]) -> str | int:
    return str(cell["shown"]) if cell["value"] is None else int(cell["value"])


def table_rows(table: dict[str, Any]) -> Iterator[Row]:
    """A published table as rows: a header, one row per value, the totals row."""
    rows = table["rows"]
    cols = table["columns"]
    if cols is None:
        yield [rows["dimension"], table["unit"]]
        for value, cell in zip(rows["values"], table["cells"], strict=True):
            yield [value, _figure(cell)]
        yield ["total", _figure(table["total"])]
        return
    yield [f"{rows['dimension']} \\ {cols['dimension']}", *cols["values"], "total"]
    for value, cells, total in zip(
        rows["values"], table["cells"], table["row_totals"], strict=True
    ):
        yield [value, *(_figure(c) for c in cells), _figure(total)]
    yield ["total", *(_figure(c) for c in table["column_totals"]), _figure(table["total"])]


def _sections(report: dict[str, Any]) -> Iterator[tuple[str, list[Row]]]:
    if "indicators" in report:
        rows: list[Row] = [["action", "indicator", "figure", "period", "note"]]
        rows += [
            [i["action"], i["indicator"], i["value"] if i["value"] is not None else i["shown"],
             i["period"], i["note"]]
            for i in report["indicators"]
        ]  # fmt: skip
        yield "Indicators", rows
    for section in report["sections"]:
        yield section["title"], list(table_rows(section["table"]))


def _safe(value: str | int | float | None) -> str | int | float:
    if isinstance(value, int | float):
        return value
    return safe_cell(value)


def to_csv(report: dict[str, Any]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    for row in _about(report):
        w.writerow([_safe(v) for v in row])
    for title, rows in _sections(report):
        w.writerow([])
        w.writerow([_safe(title)])
        for row in rows:
            w.writerow([_safe(v) for v in row])
    return out.getvalue().encode("utf-8")


def to_xlsx(report: dict[str, Any]) -> bytes:
    """One sheet "About" (period, scope, rule) and one per section."""
    wb = Workbook()
    about = wb.active
    assert about is not None
    about.title = "About"
    _write(about, _about(report))
    for n, (title, rows) in enumerate(_sections(report), start=1):
        ws = wb.create_sheet(f"{n}")
        _write(ws, [[title], [], *rows, [], *_about(report)[1:]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _write(ws: Any, rows: list[Row]) -> None:
    for row in rows:
        ws.append([_safe(v) for v in row])
    for line in ws.iter_rows():
        for cell in line:
            _as_text(cell)


def _as_text(cell: Cell) -> None:
    # openpyxl stores any string starting with "=" as a formula: keep it a string.
    if isinstance(cell.value, str) and cell.data_type == "f":
        cell.data_type = "s"
