"""The case's other forms (identification, note, close, reopen, transfer, the
reflection period's extension, consent withdrawal) over the case API (fake here): who
may, what is sent, errors in the reader's language at their fields."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE = "0190a000-0000-7000-8000-0000000000aa"
CONSENT = "0190a000-0000-7000-8000-0000000000c1"
VIEW = {
    "id": CASE, "status": "open", "region": "sughd", "categories": ["trafficking"],
    "office": "khujand", "opened_at": "2026-11-29T08:00:00Z", "referrals": [],
    "consents": [{"consent_id": CONSENT, "purpose": "referral", "service_types": ["shelter"],
                  "status": "active", "given_at": "2026-11-29T08:10:00Z"}],
}  # fmt: skip
WRITTEN = {"case_id": CASE, "version": 5}
# page -> (the API path it posts to, a valid form, the body the API must get)
FORMS = {
    "identification": (
        f"/cases/{CASE}/identification",
        {"status": "presumed", "basis": "indicators_present", "deciding_agency": "police",
         "reason_code": "", "note": "seen at the border"},
        {"status": "presumed", "basis": "indicators_present", "deciding_agency": "police",
         "note": "seen at the border"},
    ),
    "note": (f"/cases/{CASE}/notes", {"text": "called back"}, {"text": "called back"}),
    "close": (f"/cases/{CASE}/close", {"reason": "services_completed", "note": ""},
              {"reason": "services_completed"}),
    "reopen": (f"/cases/{CASE}/reopen", {"reason": "new_needs"}, {"reason": "new_needs"}),
    "transfer": (f"/cases/{CASE}/transfer", {"to_office": "bokhtar", "to_caseworker": ""},
                 {"to_office": "bokhtar"}),
    "reflection": (f"/cases/{CASE}/reflection-period/extend",
                   {"days": "14", "reason_code": "medical_treatment"},
                   {"days": "14", "reason_code": "medical_treatment"}),
    f"consents/{CONSENT}/withdraw": (
        f"/cases/{CASE}/consents/{CONSENT}/withdraw", {"reason_code": "survivor_request"},
        {"reason_code": "survivor_request"},
    ),
}  # fmt: skip


@pytest.fixture(autouse=True)
def _case(apis: FakeApis) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []


@pytest.mark.parametrize("role", ["provider", "auditor", "coordinator"])
def test_only_case_writers_open_or_send_these_forms(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="sughd")
    csrf = csrf_of(client.get("/signin").text)
    for page, (_api, form, _body) in FORMS.items():
        assert client.get(f"/cases/{CASE}/{page}").status_code == 403, page
        r = client.post(f"/cases/{CASE}/{page}", data={"csrf_token": csrf, **form})
        assert r.status_code == 403, page
    assert apis.calls == []


@pytest.mark.parametrize("page", list(FORMS))
def test_each_form_sends_its_body_with_the_persons_token_and_the_forms_key(
    client: TestClient, apis: FakeApis, page: str
) -> None:
    api, form, body = FORMS[page]
    apis.routes[("POST", api)] = WRITTEN
    sign_in(client, "caseworker", region="sughd", office="khujand")
    shown = client.get(f"/cases/{CASE}/{page}")
    assert shown.status_code == 200
    assert f'action="/cases/{CASE}/{page}"' in shown.text
    key = "k" * 24
    r = client.post(
        f"/cases/{CASE}/{page}",
        data={"csrf_token": csrf_of(shown.text), "form_id": key, **form},
        follow_redirects=False,
    )
    assert r.status_code == 303
    sent = apis.calls[-1]
    assert (sent.method, sent.url.path) == ("POST", api)
    assert json.loads(sent.content) == body
    assert sent.headers["idempotency-key"] == key
    assert apis.bearer_claims(sent)["sub"] == "test-caseworker"
    done = page.rsplit("/", 1)[-1]
    # a transfer is only requested (the case stays until accepted): back to the case too
    assert r.headers["location"] == f"/cases/{CASE}?done={done}"


def test_the_reflection_period_is_extended_only_from_a_running_one(
    make_client: MakeClient, apis: FakeApis
) -> None:
    client = make_client()
    sign_in(client, "caseworker", region="sughd")
    running = {"started_at": "2026-11-01T08:00:00Z", "ends_at": "2026-12-01T08:00:00Z",
               "days_left": 2, "running": True, "outcome": None}  # fmt: skip
    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "reflection_period": running}
    assert f'href="/cases/{CASE}/reflection"' in client.get(f"/cases/{CASE}").text
    ended = {**running, "running": False, "days_left": 0, "outcome": "elapsed"}
    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "reflection_period": ended}
    assert f'href="/cases/{CASE}/reflection"' not in client.get(f"/cases/{CASE}").text
    # a period that ended meanwhile: the API's 409, said above the form
    apis.routes[("POST", f"/cases/{CASE}/reflection-period/extend")] = lambda req: (
        httpx.Response(409, json={"status": 409, "type": "about:invalid_transition",
                                  "detail": "no reflection period is running"})
    )  # fmt: skip
    csrf = csrf_of(client.get(f"/cases/{CASE}/reflection").text)
    page = client.post(
        f"/cases/{CASE}/reflection",
        data={"csrf_token": csrf, "days": "14", "reason_code": "safety_risk"},
    )
    assert page.status_code == 409
    assert "does not take this change" in page.text and "no reflection" not in page.text
    assert 'value="14"' in page.text


def test_too_many_days_is_said_at_the_field(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("POST", f"/cases/{CASE}/reflection-period/extend")] = lambda req: (
        httpx.Response(422, json={"status": 422, "errors": [
            {"path": "body.days", "type": "less_than_equal"}]})
    )  # fmt: skip
    sign_in(client, "caseworker", region="sughd")
    csrf = csrf_of(client.get(f"/cases/{CASE}/reflection").text)
    page = client.post(
        f"/cases/{CASE}/reflection",
        data={"csrf_token": csrf, "days": "400", "reason_code": "other"},
    )
    assert page.status_code == 422
    assert 'id="err-days"' in page.text and "This number is out of range." in page.text


def test_a_422_lands_at_its_field_in_tajik(make_client: MakeClient, apis: FakeApis) -> None:
    apis.routes[("POST", f"/cases/{CASE}/close")] = lambda req: httpx.Response(
        422, json={"status": 422, "errors": [{"path": "body.reason", "type": "missing"}]}
    )
    client = make_client(language="tg")
    sign_in(client, "caseworker", region="sughd")
    csrf = csrf_of(client.get(f"/cases/{CASE}/close").text)
    page = client.post(f"/cases/{CASE}/close", data={"csrf_token": csrf, "note": "x"})
    assert page.status_code == 422
    assert 'id="err-reason"' in page.text and 'aria-invalid="true"' in page.text
    tajik = client.app.state.catalogs["tg"].gettext  # type: ignore[attr-defined]
    assert tajik("Please fill this in.") in page.text
    assert tajik("Please fill this in.") != "Please fill this in."


def test_a_refusal_is_said_by_its_type_never_its_english_text(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("POST", f"/cases/{CASE}/notes")] = lambda req: httpx.Response(
        409,
        json={"status": 409, "type": "https://safepath.example/problems/case_closed",
              "detail": "the case is closed: cannot add_note; reopen it first"},
    )  # fmt: skip
    sign_in(client, "caseworker", region="sughd")
    csrf = csrf_of(client.get(f"/cases/{CASE}/note").text)
    page = client.post(f"/cases/{CASE}/note", data={"csrf_token": csrf, "text": "hello"})
    assert page.status_code == 409
    assert "The case is closed: reopen it first." in page.text
    assert "cannot add_note" not in page.text


def test_withdrawing_a_consent_the_case_does_not_have_reaches_no_api(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, "caseworker", region="sughd")
    other = "0190a000-0000-7000-8000-0000000000c9"
    assert client.get(f"/cases/{CASE}/consents/{other}/withdraw").status_code == 404
    assert client.get(f"/cases/{CASE}/consents/not-an-id/withdraw").status_code in (404, 422)
    assert not [c for c in apis.calls if c.method == "POST"]


def test_the_case_page_links_the_forms_for_writers_only(
    make_client: MakeClient, apis: FakeApis
) -> None:
    writer = make_client()
    sign_in(writer, "caseworker", region="sughd")
    page = writer.get(f"/cases/{CASE}").text
    for link in ("identification", "note", "transfer", "close", f"consents/{CONSENT}/withdraw"):
        assert f'href="/cases/{CASE}/{link}"' in page, link
    assert f'href="/cases/{CASE}/reopen"' not in page  # only a closed case
