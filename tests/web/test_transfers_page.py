"""Transfers to answer (issue 13 item 7) in the web app, over the case API (fake here):
the receiving caseworker sees what waits for them and accepts or refuses with a reason,
with their own token and the form's key; other roles do not get the page."""

from __future__ import annotations

import json

import httpx
from fastapi.testclient import TestClient

from tests.web.conftest import sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE = "0190a000-0000-7000-8000-0000000000aa"
TRANSFER = "0190a000-0000-7000-8000-0000000000c1"
ROW = {
    "case_id": CASE, "transfer_id": TRANSFER, "from_office": "khujand-nrm",
    "to_caseworker": None, "to_office": "dushanbe-nrm", "requested_at": "2026-11-29T10:00:00Z",
}  # fmt: skip
BASE = f"/transfers/{CASE}/{TRANSFER}"


def test_the_receiving_caseworker_accepts_with_their_token(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/transfers/incoming")] = [ROW]
    apis.routes[("POST", f"/cases/{CASE}/transfers/{TRANSFER}/accept")] = {"id": CASE}
    sign_in(client, "caseworker", office="dushanbe-nrm")
    page = client.get("/transfers")
    assert page.status_code == 200 and "khujand-nrm" in page.text
    assert f'action="{BASE}/accept"' in page.text

    form = {"csrf_token": csrf_of(page.text), "form_id": "a" * 24}
    r = client.post(f"{BASE}/accept", data=form, follow_redirects=False)

    assert r.headers["location"] == f"/cases/{CASE}?done=transfer_accepted"
    sent = apis.calls[-1]
    assert (sent.method, sent.url.path) == ("POST", f"/cases/{CASE}/transfers/{TRANSFER}/accept")
    assert sent.headers["idempotency-key"] == "a" * 24
    assert apis.bearer_claims(sent)["office"] == "dushanbe-nrm"


def test_a_refusal_sends_its_reason_and_a_missing_one_is_said(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/transfers/incoming")] = [ROW]
    refuse = ("POST", f"/cases/{CASE}/transfers/{TRANSFER}/refuse")
    apis.routes[refuse] = {"id": CASE}
    sign_in(client, "supervisor", office="dushanbe-nrm", region="dushanbe")
    page = client.get("/transfers")
    form = {"csrf_token": csrf_of(page.text), "form_id": "r" * 24, "reason_code": "no_capacity"}

    r = client.post(f"{BASE}/refuse", data=form, follow_redirects=False)

    assert r.headers["location"] == "/transfers?done=refused"
    assert json.loads(apis.calls[-1].content) == {"reason_code": "no_capacity"}
    apis.routes[refuse] = lambda req: httpx.Response(
        422, json={"status": 422, "errors": [{"path": "body.reason_code", "type": "missing"}]}
    )
    form = {**form, "form_id": "s" * 24, "reason_code": ""}
    r = client.post(f"{BASE}/refuse", data=form, follow_redirects=False)
    assert r.headers["location"] == "/transfers?done=reason_missing"


def test_other_roles_do_not_get_the_page(client: TestClient, apis: FakeApis) -> None:
    sign_in(client, "provider", provider_id="shelter-a")
    assert client.get("/transfers").status_code == 403
    assert not any(c.url.path == "/transfers/incoming" for c in apis.calls)
