"""Statistics: who may read them and over which cases, what bad questions get, and that
no identifying field (nor a case id, an office, a caseworker) ever comes out, in JSON,
CSV, XLSX or SVG."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from services.case.app.statistics.catalogue import MEASURES
from services.case.app.statistics.reports import REPORTS
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import SECRETS, intake, open_case

K = 2  # the smallest threshold, so that a few cases show as figures


@pytest.fixture
def settings(service_settings: Callable[..., Settings]) -> Settings:
    return service_settings("case", statistics_min_cell=K)


async def _world(client: httpx.AsyncClient, auth: Token) -> list[str]:
    """Three cases in sughd, two in khatlon (opened by caseworkers of those regions)."""
    ids = []
    for region, district, n in (("sughd", "khujand", 3), ("khatlon", "kulob", 2)):
        h = auth("caseworker", sub=f"cw-{region}", office=f"{region}-nrm", region=region)
        for _ in range(n):
            ids.append(await open_case(client, h, intake(region=region, district=district)))
    return ids


def _by_region(body: dict[str, Any]) -> dict[str, Any]:
    return dict(zip(body["rows"]["values"], (c["value"] for c in body["cells"]), strict=True))


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"role": "supervisor", "region": "sughd"}, {"sughd": 3, "khatlon": 0, "total": 3}),
        ({"role": "auditor"}, {"sughd": 3, "khatlon": 2, "total": 5}),
        ({"role": "auditor", "region": "khatlon"}, {"sughd": 0, "khatlon": 2, "total": 2}),
        ({"role": "coordinator"}, {"sughd": 3, "khatlon": 2, "total": 5}),
        ({"role": "coordinator", "region": "khatlon"}, {"sughd": 0, "khatlon": 2, "total": 2}),
        ({"role": "admin"}, {"sughd": 3, "khatlon": 2, "total": 5}),
    ],
)
async def test_each_role_reads_its_scope(
    client: httpx.AsyncClient, auth: Token, claims: dict[str, Any], expected: dict[str, int]
) -> None:
    await _world(client, auth)
    r = await client.get("/statistics/cases_opened?rows=region", headers=auth(**claims))
    assert r.status_code == 200, r.text
    body = r.json()
    got = _by_region(body)
    assert {k: got[k] for k in ("sughd", "khatlon")} | {"total": body["total"]["value"]} == (
        expected
    )
    assert body["scope"]["region"] == claims.get("region")
    # a filter never widens the scope: a supervisor asking for another region gets nothing
    other = await client.get(
        "/statistics/cases_opened?rows=sex&region=khatlon", headers=auth(**claims)
    )
    assert other.json()["total"]["value"] == expected["khatlon"]


@pytest.mark.parametrize(
    "claims",
    [
        {"role": "caseworker"},
        {"role": "provider"},
        {"role": "supervisor", "region": None},
    ],
)
async def test_other_roles_and_a_supervisor_without_region_are_refused(
    client: httpx.AsyncClient, auth: Token, claims: dict[str, Any]
) -> None:
    headers = auth(**claims)
    for path in (
        "/statistics",
        "/statistics/cases_opened",
        "/statistics/cases_opened/chart.svg",
        "/reports/donor_summary?format=csv",
    ):
        r = await client.get(path, headers=headers)
        assert r.status_code == 403, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/statistics")).status_code == 401


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("rows=given_name", "query.rows"),
        ("rows=sex&columns=caseworker", "query.columns"),
        ("rows=outcome", "query.rows"),  # a dimension of referrals, not of cases
        ("rows=sex&columns=sex", "query.columns"),
        ("from=2026-06&to=2026-01", "query.to"),
        ("from=2020-01&to=2026-01", "query.from"),
        ("from=2026-13", "query.from"),
        ("as_of=yesterday", "query.as_of"),
        ("k=1", "query.k"),
        ("case_id=0192", "query.case_id"),
        ("district=moscow", "query.district"),
        # issue 14's facts: a country is never a dimension; a vocabulary's values only
        ("rows=country_of_origin", "query.rows"),
        ("rows=exploitation_country", "query.rows"),
        ("trafficking_scope=abroad", "query.trafficking_scope"),
        ("procedure_stage=AF", "query.procedure_stage"),
        ("exploitation_form=slavery", "query.exploitation_form"),
    ],
)
async def test_bad_questions_get_422_naming_the_parameter(
    client: httpx.AsyncClient, auth: Token, query: str, path: str
) -> None:
    r = await client.get(f"/statistics/cases_opened?{query}", headers=auth("admin"))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert path in [e["path"] for e in r.json()["errors"]], r.json()


async def test_an_unknown_measure_is_422_and_a_report_checks_its_period(
    client: httpx.AsyncClient, auth: Token
) -> None:
    r = await client.get("/statistics/names", headers=auth("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "path.measure"
    r = await client.get("/reports/trafficking?from=2026-06&to=2026-01", headers=auth("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "query.to"
    r = await client.get("/reports/trafficking?format=pdf", headers=auth("admin"))
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "query.format"


async def test_no_identifying_field_ever_comes_out(client: httpx.AsyncClient, auth: Token) -> None:
    ids = await _world(client, auth)
    forbidden = (*SECRETS, *ids, "cw-sughd", "sughd-nrm", "khatlon-nrm", "caseworker")
    h = auth("admin")
    outputs: list[bytes] = [(await client.get("/statistics", headers=h)).content]
    for name, m in MEASURES.items():
        for dim in m.dimensions:
            r = await client.get(f"/statistics/{name}?rows={dim}", headers=h)
            assert r.status_code == 200, (name, dim, r.text)
            outputs.append(r.content)
        outputs.append((await client.get(f"/statistics/{name}/chart.svg", headers=h)).content)
    for report in REPORTS:
        for fmt in ("json", "csv", "xlsx"):
            r = await client.get(f"/reports/{report}?format={fmt}", headers=h)
            assert r.status_code == 200, (report, fmt, r.text)
            outputs.append(r.content if fmt != "xlsx" else _xlsx_text(r.content))
    for out in outputs:
        for secret in forbidden:
            assert secret.encode() not in out


def _xlsx_text(content: bytes) -> bytes:
    wb = load_workbook(io.BytesIO(content))
    return "\n".join(
        str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row
    ).encode()


async def test_a_small_cell_is_hidden_with_a_partner(
    client: httpx.AsyncClient, auth: Token
) -> None:
    """K=2 here: khatlon's 2 and sughd's 3 show; with k=3 khatlon's 2 hides and, as the
    total would give it away, so does a partner."""
    await _world(client, auth)
    body = (
        await client.get("/statistics/cases_opened?rows=region&k=3", headers=auth("admin"))
    ).json()
    cells = dict(zip(body["rows"]["values"], body["cells"], strict=True))
    assert cells["khatlon"] == {"value": None, "shown": "<3", "suppressed": "primary"}
    hidden = [v for v, c in cells.items() if c.get("suppressed") == "complementary"]
    hidden += ["total"] if body["total"].get("suppressed") else []
    assert hidden  # sughd or the total
    assert body["suppression"]["k"] == 3


async def test_chart_and_exports(client: httpx.AsyncClient, auth: Token) -> None:
    await _world(client, auth)
    h = auth("coordinator")
    svg = await client.get(
        "/statistics/cases_opened/chart.svg?rows=age_band&columns=sex", headers=h
    )
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.content.lstrip().startswith(b"<svg") and b"<script" not in svg.content
    tiles = await client.get("/statistics/cases_opened/chart.svg?rows=district", headers=h)
    assert b"khujand" in tiles.content and b"<script" not in tiles.content
    csv_text = (await client.get("/reports/trafficking?format=csv", headers=h)).text
    assert "Period" in csv_text and "Suppression" in csv_text and "national" in csv_text
    xlsx = await client.get("/reports/committee_indicators?format=xlsx", headers=h)
    wb = load_workbook(io.BytesIO(xlsx.content))
    about = {r[0].value: r[1].value for r in wb["About"].iter_rows()}
    assert about["Scope"] == "national (all regions)" and "hidden" in str(about["Suppression"])
    indicators = (await client.get("/reports/committee_indicators", headers=h)).json()
    assert [i["action"] for i in indicators["indicators"]] == ["#32", "#34", "#35", "#36", "#37"]


async def test_a_coordinator_reads_statistics_only_never_a_case(
    client: httpx.AsyncClient, auth: Token
) -> None:
    ids = await _world(client, auth)
    h = auth("coordinator")
    for path in ("/cases", f"/cases/{ids[0]}", f"/cases/{ids[0]}/history", "/audit/verify"):
        r = await client.get(path, headers=h)
        assert r.status_code == 403, (path, r.status_code)
    r = await client.post("/cases", json=intake(), headers=h)
    assert r.status_code == 403


async def test_a_person_killed_counts_as_a_casualty_never_as_a_case(
    client: httpx.AsyncClient, auth: Token
) -> None:
    """POST /casualties (a person killed, no survivor case) reaches the casualty figures
    and nothing else; the name recorded never comes out."""
    h = auth("caseworker", sub="cw-gbao", office="gbao-nrm", region="gbao")
    killed = {"given_name": "Rustam-Testcase", "sex": "male", "incident_district": "khorog",
              "device_type": "anti_personnel_mine", "incident_date": "2024-05-02"}  # fmt: skip
    for _ in range(2):
        assert (await client.post("/casualties", json=killed, headers=h)).status_code == 201
    admin = auth("admin")
    r = await client.get(
        "/statistics/casualties?rows=incident_district&columns=casualty", headers=admin
    )
    body = r.json()
    row = body["rows"]["values"].index("khorog")
    col = body["columns"]["values"].index("killed")
    assert body["cells"][row][col]["value"] == 2
    assert b"Rustam-Testcase" not in r.content
    opened = await client.get("/statistics/cases_opened?rows=region", headers=admin)
    assert opened.json()["total"]["value"] == 0
    years = await client.get("/statistics/casualties?rows=incident_year", headers=admin)
    assert (
        dict(zip(years.json()["rows"]["values"], years.json()["cells"], strict=True))["2024"][
            "value"
        ]
        == 2
    )
