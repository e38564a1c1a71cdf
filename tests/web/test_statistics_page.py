"""The statistics page over the case service's statistics API (fake here)."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis

CATALOGUE = {
    "measures": [
        {"name": "cases_opened", "unit": "cases", "description": "Cases opened in the period.",
         "dimensions": ["region", "sex", "month"], "href": "/statistics/cases_opened"},
    ],
    "not_yet_available": [], "reports": [], "scope": {"region": "sughd"},
    "suppression": {"k": 5, "rule": "…"}, "max_months": 60,
}  # fmt: skip
TABLE = {
    "measure": "cases_opened", "unit": "cases", "description": "Cases opened in the period.",
    "period": {"from": "2026-01", "to": "2026-06"}, "as_of": None, "scope": {"region": "sughd"},
    "filters": {}, "rows": {"dimension": "sex", "values": ["female", "male"]},
    "cells": [{"value": 12, "shown": "12"},
              {"value": None, "shown": "<5", "suppressed": "primary"}],
    "total": {"value": 15, "shown": "15"}, "multi_valued": False,
}  # fmt: skip


def test_a_supervisor_sees_a_table_with_small_figures_hidden_and_its_chart(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/statistics")] = CATALOGUE
    apis.routes[("GET", "/statistics/cases_opened")] = TABLE
    apis.routes[("GET", "/statistics/cases_opened/chart.svg")] = lambda req: httpx.Response(
        200,
        content=b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        headers={"content-type": "image/svg+xml"},
    )
    sign_in(client, "supervisor", region="sughd")
    page = client.get("/statistics?measure=cases_opened&rows=sex&from=2026-01&to=2026-06")
    assert page.status_code == 200
    assert "Female" in page.text and "&lt;5" in page.text and ">15<" in page.text
    assert ("rows", "sex") in apis.calls[-1].url.params.multi_items()
    img = client.get("/statistics/chart.svg?measure=cases_opened&rows=sex")
    assert img.headers["content-type"].startswith("image/svg+xml")
    assert img.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    assert apis.bearer_claims(apis.calls[-1])["role"] == "supervisor"


def test_a_bad_question_is_shown_at_its_chooser(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/statistics")] = CATALOGUE
    apis.routes[("GET", "/statistics/cases_opened")] = lambda req: httpx.Response(
        422, json={"status": 422, "errors": [{"path": "query.to", "type": "value_error"}]}
    )
    sign_in(client, "auditor")
    page = client.get("/statistics?measure=cases_opened&from=2026-06&to=2026-01")
    assert page.status_code == 422
    assert 'id="err-to"' in page.text


def test_caseworkers_and_providers_get_no_statistics(
    make_client: MakeClient, apis: FakeApis
) -> None:
    for role in ("caseworker", "provider"):
        client = make_client()
        sign_in(client, role, provider_id="shelter-a")
        assert client.get("/statistics").status_code == 403
        assert client.get("/statistics/chart.svg?measure=cases_opened").status_code == 403
    assert apis.calls == []


def test_measure_dimension_and_description_are_in_the_readers_language(
    make_client: MakeClient, apis: FakeApis
) -> None:
    """The API's identifiers and English description become the reader's words; the
    catalogue test (test_pieces) keeps every one of them translated."""
    apis.routes[("GET", "/statistics")] = CATALOGUE
    apis.routes[("GET", "/statistics/cases_opened")] = TABLE
    client = make_client(language="ru")
    sign_in(client, "supervisor", region="sughd")
    page = client.get("/statistics?measure=cases_opened&rows=sex&from=2026-01&to=2026-06").text
    ru = client.app.state.catalogs["ru"].gettext  # type: ignore[attr-defined]
    for english in ("Cases opened", "Cases opened in the period.", "Sex", "cases"):
        assert ru(english) != english, english
        assert ru(english) in page, english
    assert ">cases_opened<" not in page
    assert "Cases opened in the period." not in page
