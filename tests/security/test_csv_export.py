"""The history's CSV export never carries a live spreadsheet formula: a value a client chose
(its token's ``sub``, its ``X-Correlation-Id``) that a spreadsheet would run is defused."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from services.case.entrypoints.spreadsheet import safe_cell
from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case

EVIL_SUB = '=HYPERLINK("http://evil","x")'
EVIL_CORRELATION_IDS = ('=HYPERLINK("http://evil","x")', "@SUM(1+1)", "+1+1", "-2+3")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("=", "'="),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(value: str, cell: str) -> None:
    assert safe_cell(value) == cell


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("caseworker-1", "caseworker-1"),
        ("a=b", "a=b"),
        (" =1+1", " =1+1"),
        ("'=1+1", "'=1+1"),
        ('{"note": "=1+1"}', '{"note": "=1+1"}'),
        ("", ""),
        (None, ""),
        (3, "3"),
    ],
)
def test_other_cells_are_left_as_they_are(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


async def test_history_csv_defuses_formulas_in_every_cell(
    client: httpx.AsyncClient, auth: Token
) -> None:
    evil = auth("caseworker", sub=EVIL_SUB)
    opened, noted, closed, _ = EVIL_CORRELATION_IDS
    case_id = await open_case(client, {**evil, "X-Correlation-Id": opened})
    r = await client.post(
        f"/cases/{case_id}/notes",
        json={"text": "=1+1 seen at intake"},
        headers={**evil, "X-Correlation-Id": noted},
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/cases/{case_id}/close",
        json={"reason": "services_completed"},
        headers={**evil, "X-Correlation-Id": closed},
    )
    assert r.status_code == 200, r.text

    for reader in (auth("supervisor"), auth("auditor")):
        export = await client.get(
            f"/cases/{case_id}/history", headers={**reader, "Accept": "text/csv"}
        )
        assert export.status_code == 200, export.text
        header, *rows = list(csv.reader(io.StringIO(export.text)))
        assert header[0] == "id" and len(rows) >= 4
        cells = [cell for row in rows for cell in row]
        assert not [c for c in cells if c.startswith(FORMULA_STARTS)]
        by_name = [dict(zip(header, row, strict=True)) for row in rows]
        assert {x["actor_sub"] for x in by_name} == {"'" + EVIL_SUB}
        assert {x["correlation_id"] for x in by_name} >= {"'" + c for c in (opened, noted, closed)}
    # The JSON answer still carries the values as they are.
    plain = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
    assert {e["actor"]["sub"] for e in plain.json()["entries"]} == {EVIL_SUB}
