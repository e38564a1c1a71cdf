"""Service outcomes (issue 13 item 4) in the web app, over the referral API (fake here):
the provider records delivered / partly / not delivered (with a reason) from its inbox;
the caseworker sees it on the case page and confirms it."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE = "0190a000-0000-7000-8000-0000000000aa"
REFERRAL = "0190a000-0000-7000-8000-0000000000f1"
ROW = {
    "referral_id": REFERRAL, "need": "shelter", "urgency": "urgent", "status": "in_service",
    "case_reference": "R-1", "categories": ["trafficking"], "region": "sughd",
    "sex": "female", "age_band": "25-39", "language": "tg", "disability": False,
}  # fmt: skip
CASE_VIEW = {
    "id": CASE, "status": "open", "region": "sughd", "categories": ["trafficking"],
    "office": "khujand", "opened_at": "2026-11-29T08:00:00Z", "consents": [], "referrals": [],
}  # fmt: skip
CASE_ROW = {
    "referral_id": REFERRAL, "request_id": "0190a000-0000-7000-8000-0000000000e1",
    "need": "shelter", "urgency": "urgent", "status": "completed", "provider_id": "shelter-a",
    "respond_by": None, "outcome": "partly_delivered", "outcome_reason": "person_moved",
    "outcome_confirmed": False, "updated_at": "2026-11-29T10:00:00Z",
}  # fmt: skip
CONFIRM = ("POST", f"/referrals/{REFERRAL}/outcome/confirm")


def test_a_provider_records_the_outcome_with_its_own_token_and_the_forms_key(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/providers/shelter-a/referrals")] = [ROW]
    apis.routes[("POST", f"/referrals/{REFERRAL}/outcome")] = {"referral_id": REFERRAL}
    sign_in(client, "provider", provider_id="shelter-a")
    inbox = client.get("/inbox")
    assert f'action="/inbox/{REFERRAL}/outcome"' in inbox.text
    form = {"csrf_token": csrf_of(inbox.text), "form_id": "o" * 24,
            "outcome": "not_delivered", "reason_code": "person_did_not_attend"}  # fmt: skip
    r = client.post(f"/inbox/{REFERRAL}/outcome", data=form, follow_redirects=False)
    assert r.headers["location"] == "/inbox?done=outcome"
    sent = apis.calls[-1]
    assert json.loads(sent.content) == {
        "outcome": "not_delivered",
        "reason_code": "person_did_not_attend",
    }
    assert sent.headers["idempotency-key"] == "o" * 24
    assert apis.bearer_claims(sent)["provider_id"] == "shelter-a"


def test_a_missing_reason_is_said_and_nothing_else(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/providers/shelter-a/referrals")] = [ROW]
    apis.routes[("POST", f"/referrals/{REFERRAL}/outcome")] = lambda req: httpx.Response(
        422, json={"status": 422, "errors": [{"path": "body.reason_code", "type": "missing"}]}
    )
    sign_in(client, "provider", provider_id="shelter-a")
    csrf = csrf_of(client.get("/inbox").text)
    form = {"csrf_token": csrf, "outcome": "partly_delivered"}
    page = client.post(f"/inbox/{REFERRAL}/outcome", data=form)
    assert "a reason unless it was delivered" in page.text


@pytest.mark.parametrize("role", ["provider", "auditor", "coordinator"])
def test_only_the_cases_people_confirm_an_outcome(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="sughd")
    csrf = csrf_of(client.get("/signin").text)
    r = client.post(
        f"/cases/{CASE}/referrals/{REFERRAL}/confirm-outcome", data={"csrf_token": csrf}
    )
    assert r.status_code == 403
    assert not [c for c in apis.calls if c.method == "POST"]


def test_the_case_page_shows_the_outcome_and_the_caseworker_confirms_it(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = CASE_VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = [CASE_ROW]
    apis.routes[CONFIRM] = {**CASE_ROW, "outcome_confirmed": True}
    sign_in(client, "caseworker", sub="amina", region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}")
    assert "Partly delivered" in page.text and "The person moved away" in page.text
    action = f"/cases/{CASE}/referrals/{REFERRAL}/confirm-outcome"
    assert f'action="{action}"' in page.text
    r = client.post(action, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.headers["location"] == f"/cases/{CASE}?done=outcome_confirmed"
    sent = apis.calls[-1]
    assert (sent.method, sent.url.path) == CONFIRM
    assert apis.bearer_claims(sent)["sub"] == "amina"
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = [{**CASE_ROW, "outcome_confirmed": True}]
    confirmed = client.get(f"/cases/{CASE}").text
    assert f'action="{action}"' not in confirmed and "confirmed" in confirmed


def test_a_confirmation_outside_the_caseworkers_scope_is_not_found(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[CONFIRM] = lambda req: httpx.Response(404, json={"status": 404})
    sign_in(client, "caseworker", region="khatlon")
    csrf = csrf_of(client.get("/signin").text)
    r = client.post(f"/cases/{CASE}/referrals/{REFERRAL}/confirm-outcome",
                    data={"csrf_token": csrf})  # fmt: skip
    assert r.status_code == 404
