"""Changing the profile in the web app, over the case API (fake here): nothing
identifying is read until "Open the profile"; the PUT carries the whole profile with the
category facts kept; a 422 lands at its field; only case writers get the form."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE = "0190a000-0000-7000-8000-0000000000aa"
PROFILE = {
    "age_band": "25-39", "sex": "female", "disability": True, "disability_kind": "hearing",
    "nationality": "TJ", "citizenship_status": "citizen", "language": "tg",
    "interpreter_needed": False, "region": "sughd", "district": "khujand",
    "categories": ["trafficking"],
    "trafficking": {"exploitation_forms": ["forced_labour"], "scope": "international",
                    "exploitation_country": "RU", "recruitment_channel": None,
                    "exploitation_start_year": 2024, "exploitation_months": 9},
    "mine_eo": None, "refugee_asylum": None,
    "identifying": None,
}  # fmt: skip
WHO = {
    "given_name": "Madina", "family_name": "Karimova", "date_of_birth": "2001-03-04",
    "estimated_age_years": None, "contact_arrangement": "via the shelter", "address": None,
    "document_numbers": ["A123", "B456"], "narrative": None,
    "exploitation_started_on": "2024-01-10", "exploitation_ended_on": "2024-10-10",
    "incident_date": None, "casualty_record_id": None, "arrival_date": None,
    "language_label": None,
}  # fmt: skip
VIEW = {
    "id": CASE, "status": "open", "region": "sughd", "categories": ["trafficking"],
    "office": "khujand", "opened_at": "2026-11-29T08:00:00Z", "referrals": [], "consents": [],
    "identity_erased": False, "profile": PROFILE,
}  # fmt: skip
PUT = ("PUT", f"/cases/{CASE}/profile")


def _views(request: httpx.Request) -> httpx.Response:
    if request.url.params.get("identifying") == "false":
        return httpx.Response(200, json=VIEW)
    return httpx.Response(200, json={**VIEW, "profile": {**PROFILE, "identifying": WHO}})


@pytest.fixture(autouse=True)
def _case(apis: FakeApis) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = _views
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []


def _identifying_reads(apis: FakeApis) -> int:
    return sum(
        1
        for c in apis.calls
        if c.method == "GET"
        and c.url.path == f"/cases/{CASE}"
        and c.url.params.get("identifying") is None
    )


def _form(client: TestClient) -> str:
    page = client.get(f"/cases/{CASE}/profile")
    opened = client.post(f"/cases/{CASE}/profile/open", data={"csrf_token": csrf_of(page.text)})
    assert opened.status_code == 200
    return opened.text


def test_nothing_identifying_is_read_until_the_profile_is_opened(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, "caseworker", region="sughd", office="khujand")
    assert f'href="/cases/{CASE}/profile"' in client.get(f"/cases/{CASE}").text
    page = client.get(f"/cases/{CASE}/profile")
    assert page.status_code == 200 and "Madina" not in page.text
    assert _identifying_reads(apis) == 0
    opened = _form(client)
    assert _identifying_reads(apis) == 1
    assert 'value="Madina"' in opened and "A123\nB456</textarea>" in opened
    assert 'value="tg" selected' in opened
    assert 'name="disability" checked' in opened


def test_the_whole_profile_is_put_with_the_category_facts_kept(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[PUT] = {"case_id": CASE, "version": 9, "possible_duplicates": []}
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(_form(client))
    form = {
        "csrf_token": csrf, "form_id": "p" * 24, "region": "sughd", "district": "khujand",
        "categories": "trafficking", "sex": "female", "language": "ru",
        "interpreter_needed": "on", "disability": "on", "citizenship_status": "citizen",
        "nationality": "TJ", "given_name": "Madina", "family_name": "Karimova",
        "date_of_birth": "2001-03-04", "contact_arrangement": "via the shelter",
        "document_numbers": "A123\r\nB456\r\n", "address": "", "narrative": "",
        "estimated_age_years": "", "language_label": "",
    }  # fmt: skip
    r = client.post(f"/cases/{CASE}/profile", data=form, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/cases/{CASE}?done=profile")
    [sent] = [c for c in apis.calls if c.method == "PUT"]
    assert sent.headers["idempotency-key"] == "p" * 24
    assert json.loads(sent.content) == {
        "region": "sughd", "district": "khujand", "categories": ["trafficking"],
        "sex": "female", "language": "ru", "interpreter_needed": True, "disability": True,
        "disability_kind": "hearing", "citizenship_status": "citizen", "nationality": "TJ",
        "given_name": "Madina", "family_name": "Karimova", "date_of_birth": "2001-03-04",
        "contact_arrangement": "via the shelter", "document_numbers": ["A123", "B456"],
        "trafficking": {"exploitation_forms": ["forced_labour"], "scope": "international",
                        "exploitation_country": "RU", "recruitment_channel": None,
                        "period_start": "2024-01-10", "period_end": "2024-10-10"},
    }  # fmt: skip


def test_a_category_no_longer_ticked_drops_its_facts(client: TestClient, apis: FakeApis) -> None:
    apis.routes[PUT] = {"case_id": CASE, "version": 9, "possible_duplicates": []}
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(_form(client))
    form = {"csrf_token": csrf, "region": "sughd", "categories": "refugee_asylum",
            "sex": "female", "language": "tg"}  # fmt: skip
    client.post(f"/cases/{CASE}/profile", data=form)
    [sent] = [c for c in apis.calls if c.method == "PUT"]
    body = json.loads(sent.content)
    assert "trafficking" not in body and "disability_kind" not in body


def test_a_bad_field_is_said_at_it_in_tajik_and_nothing_else_is_sent(
    make_client: MakeClient, apis: FakeApis
) -> None:
    apis.routes[PUT] = lambda req: httpx.Response(
        422,
        json={"status": 422, "errors": [
            {"path": "body.language", "type": "literal_error"},
            {"path": "body.trafficking.period_end", "type": "date_from_datetime_inexact"}]},
    )  # fmt: skip
    client = make_client(language="tg")
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(_form(client))
    form = {"csrf_token": csrf, "region": "sughd", "categories": "trafficking",
            "sex": "female", "language": "xx", "given_name": "Madina"}  # fmt: skip
    page = client.post(f"/cases/{CASE}/profile", data=form)
    assert page.status_code == 422
    assert 'id="err-language"' in page.text and 'value="Madina"' in page.text
    tajik = client.app.state.catalogs["tg"].gettext  # type: ignore[attr-defined]
    assert tajik("Please choose one of the options.") in page.text
    assert tajik("Please enter a date as YYYY-MM-DD.") in page.text  # a fact: above the form
    assert [c.method for c in apis.calls if c.method != "GET"] == ["PUT"]


@pytest.mark.parametrize("role", ["provider", "auditor", "coordinator"])
def test_other_roles_get_no_profile_form(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="sughd")
    csrf = csrf_of(client.get("/signin").text)
    assert client.get(f"/cases/{CASE}/profile").status_code == 403
    for path in ("profile", "profile/open"):
        r = client.post(f"/cases/{CASE}/{path}", data={"csrf_token": csrf, "language": "ru"})
        assert r.status_code == 403, path
    assert apis.calls == []


def test_an_erased_identity_gets_no_form(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "identity_erased": True}
    sign_in(client, "caseworker", region="sughd", office="khujand")
    assert f'href="/cases/{CASE}/profile"' not in client.get(f"/cases/{CASE}").text
    assert client.get(f"/cases/{CASE}/profile").status_code == 409
