"""The supervisor's possible duplicates page over the case service's duplicates API
(fake here): who may see and decide, what is sent, what is shown."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

A = "0190a000-0000-7000-8000-00000000000a"
B = "0190a000-0000-7000-8000-00000000000b"
PAIR = {
    "a": {"case_id": A, "region": "sughd", "office": "khujand", "status": "open", "in_scope": True},
    "b": {"case_id": B, "region": "khatlon", "office": "bokhtar", "status": "open",
          "in_scope": False},
    "score": 0.87, "status": "pending", "found_at": "2026-11-29T08:00:00Z",
    "decided_at": None, "decided_by": None,
}  # fmt: skip
WRITTEN = {"case_a": A, "case_b": B, "version_a": 4, "version_b": 7}


@pytest.mark.parametrize("role", ["caseworker", "provider", "auditor", "coordinator", "admin"])
def test_only_supervisors_see_or_decide_duplicates(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="sughd")
    assert client.get("/duplicates").status_code == 403
    csrf = csrf_of(client.get("/signin").text)
    for action in ("link", "unlink", "dismiss", "reopen"):
        r = client.post(
            f"/duplicates/{action}", data={"csrf_token": csrf, "case_a": A, "case_b": B}
        )
        assert r.status_code == 403
    assert apis.calls == []
    assert "/duplicates" not in client.get("/signin").text.split("<main")[0]


def test_a_supervisor_sees_pairs_without_identifying_data(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/duplicates")] = {"items": [PAIR]}
    sign_in(client, "supervisor", region="sughd")
    page = client.get("/duplicates")
    assert page.status_code == 200
    assert f'href="/cases/{A}"' in page.text  # in the supervisor's region: a link
    assert f'href="/cases/{B}"' not in page.text  # outside it: the id only, no link
    assert "outside your region" in page.text and "87%" in page.text
    assert apis.calls[-1].url.params["status"] == "pending"
    assert apis.bearer_claims(apis.calls[-1])["role"] == "supervisor"
    for verb in ("link", "dismiss"):
        assert f'action="/duplicates/{verb}"' in page.text
    assert 'action="/duplicates/unlink"' not in page.text


def test_an_unknown_status_asks_for_pending_pairs(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/duplicates")] = {"items": []}
    sign_in(client, "supervisor", region="sughd")
    assert "No pairs here." in client.get("/duplicates?status=everything").text
    assert apis.calls[-1].url.params["status"] == "pending"


def test_a_decision_is_sent_with_the_supervisors_token_and_the_forms_key(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/duplicates")] = {"items": [PAIR]}
    apis.routes[("POST", "/duplicates/link")] = WRITTEN
    sign_in(client, "supervisor", region="sughd")
    page = client.get("/duplicates")
    form = {"csrf_token": csrf_of(page.text), "form_id": "f" * 24, "case_a": A, "case_b": B}
    r = client.post("/duplicates/link", data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/duplicates?status=pending&done=link"
    sent = apis.calls[-1]
    assert json.loads(sent.content) == {"case_a": A, "case_b": B}
    assert sent.headers["idempotency-key"] == "f" * 24
    assert apis.bearer_claims(sent)["sub"] == "test-supervisor"


@pytest.mark.parametrize(
    ("action", "case_a"), [("link", "not-a-case"), ("link", "../cases"), ("merge", A)]
)
def test_a_forged_pair_or_action_reaches_no_api(
    client: TestClient, apis: FakeApis, action: str, case_a: str
) -> None:
    apis.routes[("GET", "/duplicates")] = {"items": []}
    sign_in(client, "supervisor", region="sughd")
    csrf = csrf_of(client.get("/duplicates").text)
    before = len(apis.calls)
    r = client.post(
        f"/duplicates/{action}",
        data={"csrf_token": csrf, "case_a": case_a, "case_b": B},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert len(apis.calls) == before


def test_a_refused_decision_is_said_and_a_pair_out_of_region_is_not_found(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/duplicates")] = {"items": [PAIR]}
    apis.routes[("POST", "/duplicates/dismiss")] = lambda req: httpx.Response(
        409, json={"status": 409, "code": "pair_not_pending"}
    )
    sign_in(client, "supervisor", region="sughd")
    csrf = csrf_of(client.get("/duplicates").text)
    form = {"csrf_token": csrf, "case_a": A, "case_b": B}
    page = client.post("/duplicates/dismiss", data=form)
    assert "This decision was not accepted" in page.text
    # The case service answers 404 for a pair with no case in the supervisor's region.
    apis.routes[("POST", "/duplicates/link")] = lambda req: httpx.Response(
        404, json={"status": 404}
    )
    assert client.post("/duplicates/link", data=form).status_code == 404


def test_the_case_page_shows_linked_cases(client: TestClient, apis: FakeApis) -> None:
    case = {
        "id": A, "status": "open", "region": "sughd", "categories": ["trafficking"],
        "office": "khujand", "opened_at": "2026-11-29T08:00:00Z", "consents": [],
        "referrals": [], "same_person_cases": [B],
        "family_links": [{"case_id": "0190a000-0000-7000-8000-0000000000cc",
                          "relation": "sibling"}],
    }  # fmt: skip
    apis.routes[("GET", f"/cases/{A}")] = case
    apis.routes[("GET", f"/cases/{A}/referrals")] = []
    sign_in(client, "caseworker", region="sughd")
    page = client.get(f"/cases/{A}")
    assert page.status_code == 200
    assert "Linked cases" in page.text and f'href="/cases/{B}"' in page.text
    assert "Brother or sister" in page.text


def test_more_pairs_follow_the_apis_cursor(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/duplicates")] = {"items": [PAIR], "next_cursor": "c/1+2"}
    sign_in(client, "supervisor", region="sughd")
    page = client.get("/duplicates?status=linked")
    assert 'href="/duplicates?status=linked&amp;cursor=c/1%2B2"' in page.text
    client.get("/duplicates?status=linked&cursor=c/1%2B2")
    assert apis.calls[-1].url.params["cursor"] == "c/1+2"
