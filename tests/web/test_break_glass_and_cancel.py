"""Break the glass and cancelling a transfer request in the web app, over the case API
(fake here): who gets the form at all, what is sent, the API's refusals said, and a case
page that shows the emergency access's end."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE = "0190a000-0000-7000-8000-0000000000aa"
TRANSFER = "0190a000-0000-7000-8000-0000000000d1"
VIEW = {
    "id": CASE, "status": "open", "region": "khatlon", "categories": ["trafficking"],
    "office": "bokhtar", "opened_at": "2026-11-29T08:00:00Z", "referrals": [], "consents": [],
}  # fmt: skip
GRANT = {"id": CASE, "grant_id": "g1", "expires_at": "2026-11-29T10:00:00Z", "version": 4}
BREAK = ("POST", f"/cases/{CASE}/break-glass")
REASON = "Brought unconscious to Khorog hospital; her caseworker cannot be reached."


def _posts(apis: FakeApis) -> list[httpx.Request]:
    return [c for c in apis.calls if c.method == "POST"]


@pytest.mark.parametrize("role", ["caseworker", "supervisor"])
def test_a_case_out_of_scope_offers_to_break_the_glass(
    client: TestClient, apis: FakeApis, role: str
) -> None:
    sign_in(client, role, region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}")  # the fake API: 404, as outside the scope
    assert page.status_code == 404
    assert f'href="/cases/{CASE}/break-glass"' in page.text
    assert _posts(apis) == []


@pytest.mark.parametrize("role", ["provider", "auditor", "coordinator", "admin"])
def test_no_other_role_gets_the_form_or_reaches_the_api(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="sughd")
    assert client.get(f"/cases/{CASE}/break-glass").status_code == 403
    csrf = csrf_of(client.get("/signin").text)
    r = client.post(f"/cases/{CASE}/break-glass", data={"csrf_token": csrf, "reason": REASON})
    assert r.status_code == 403
    assert _posts(apis) == []
    if role == "admin":  # admins open cases, but a 404 offers them no glass to break
        assert 'break-glass"' not in client.get(f"/cases/{CASE}").text


def test_the_reason_is_sent_and_the_case_opens_until_the_grant_ends(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[BREAK] = GRANT
    sign_in(client, "caseworker", sub="cw-khorog", region="gbao", office="khorog")
    form_page = client.get(f"/cases/{CASE}/break-glass")
    assert form_page.status_code == 200
    assert "the office that holds the case is told" in form_page.text
    form = {"csrf_token": csrf_of(form_page.text), "form_id": "b" * 24, "reason": REASON}
    r = client.post(f"/cases/{CASE}/break-glass", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith(f"/cases/{CASE}?done=break_glass&until=2026-11-29")
    [sent] = _posts(apis)
    assert json.loads(sent.content) == {"reason": REASON}
    assert sent.headers["idempotency-key"] == "b" * 24
    assert apis.bearer_claims(sent)["sub"] == "cw-khorog"
    # under the grant the API lets the case be read: the page says until when (Dushanbe)
    apis.routes[("GET", f"/cases/{CASE}")] = VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []
    page = client.get(r.headers["location"])
    assert page.status_code == 200
    assert "Emergency access: your reason was recorded" in page.text
    assert "3:00:00" in page.text  # 10:00 UTC is 15:00 in Dushanbe


def test_a_short_reason_is_said_at_its_field_and_nothing_is_granted(
    make_client: MakeClient, apis: FakeApis
) -> None:
    apis.routes[BREAK] = lambda req: httpx.Response(
        422, json={"status": 422, "errors": [{"path": "body.reason", "type": "string_too_short"}]}
    )
    client = make_client(language="ru")
    sign_in(client, "caseworker", region="gbao", office="khorog")
    csrf = csrf_of(client.get(f"/cases/{CASE}/break-glass").text)
    page = client.post(f"/cases/{CASE}/break-glass", data={"csrf_token": csrf, "reason": "urgent"})
    assert page.status_code == 422
    assert 'id="err-reason"' in page.text and ">urgent</textarea>" in page.text
    russian = client.app.state.catalogs["ru"].gettext  # type: ignore[attr-defined]
    assert russian("Please fill this in.") in page.text
    assert len(_posts(apis)) == 1


def test_a_case_in_scope_needs_no_glass(client: TestClient, apis: FakeApis) -> None:
    apis.routes[BREAK] = lambda req: httpx.Response(
        409, json={"status": 409, "type": "https://safepath.example/problems/in_scope"}
    )
    sign_in(client, "caseworker", region="khatlon", office="bokhtar")
    csrf = csrf_of(client.get(f"/cases/{CASE}/break-glass").text)
    r = client.post(
        f"/cases/{CASE}/break-glass",
        data={"csrf_token": csrf, "reason": REASON},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/cases/{CASE}?done=in_scope"


@pytest.mark.parametrize("until", ["not-a-time", "2026-11-29T10:00:00", "<b>x</b>"])
def test_a_forged_end_time_is_not_shown(client: TestClient, apis: FakeApis, until: str) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []
    sign_in(client, "caseworker", region="khatlon", office="bokhtar")
    page = client.get(f"/cases/{CASE}", params={"done": "break_glass", "until": until})
    assert "The access ends at" not in page.text and "<b>x</b>" not in page.text


def test_the_sender_cancels_the_transfer_it_just_requested(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []
    apis.routes[("POST", f"/cases/{CASE}/transfer")] = lambda req: httpx.Response(
        202, json={"case_id": CASE, "version": 3, "transfer_id": TRANSFER}
    )
    apis.routes[("POST", f"/cases/{CASE}/transfers/{TRANSFER}/cancel")] = {"version": 4}
    sign_in(client, "caseworker", region="khatlon", office="bokhtar")
    csrf = csrf_of(client.get(f"/cases/{CASE}/transfer").text)
    r = client.post(
        f"/cases/{CASE}/transfer",
        data={"csrf_token": csrf, "to_office": "khorog"},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/cases/{CASE}?done=transfer&transfer={TRANSFER}"
    page = client.get(r.headers["location"]).text
    cancel = f'action="/cases/{CASE}/transfers/{TRANSFER}/cancel"'
    assert cancel in page
    r = client.post(
        f"/cases/{CASE}/transfers/{TRANSFER}/cancel",
        data={"csrf_token": csrf, "form_id": "c" * 24},
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/cases/{CASE}?done=transfer_cancelled"
    sent = apis.calls[-1]
    assert (sent.method, sent.url.path) == ("POST", f"/cases/{CASE}/transfers/{TRANSFER}/cancel")
    assert sent.headers["idempotency-key"] == "c" * 24
    assert "The transfer request was cancelled." in client.get(r.headers["location"]).text


def test_a_pending_transfer_can_be_cancelled_any_day_from_the_case_page(
    make_client: MakeClient, apis: FakeApis
) -> None:
    """The case view names the request still waiting (``pending_transfer``): the sender
    finds its cancel button on any later visit, with when the request expires; a reader
    who may not change the case gets no button; an expired one says the case stays."""
    pending = {"transfer_id": TRANSFER, "to_caseworker": None, "to_office": "khorog",
               "expires_at": "2026-12-06T08:00:00Z", "expired": False}  # fmt: skip
    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "pending_transfer": pending}
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []
    cancel = f'action="/cases/{CASE}/transfers/{TRANSFER}/cancel"'

    client = make_client()
    sign_in(client, "caseworker", region="khatlon", office="bokhtar")
    page = client.get(f"/cases/{CASE}").text
    assert cancel in page and "khorog" in page and "The request expires at" in page

    auditor = make_client()
    sign_in(auditor, "auditor")
    assert cancel not in auditor.get(f"/cases/{CASE}").text

    apis.routes[("GET", f"/cases/{CASE}")] = {
        **VIEW, "pending_transfer": {**pending, "expired": True}
    }  # fmt: skip
    assert "The request has expired" in client.get(f"/cases/{CASE}").text

    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "pending_transfer": None}
    assert cancel not in client.get(f"/cases/{CASE}").text


def test_a_transfer_no_longer_waiting_is_said_by_its_type(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("POST", f"/cases/{CASE}/transfers/{TRANSFER}/cancel")] = lambda req: (
        httpx.Response(409, json={"status": 409,
                                  "type": "https://safepath.example/problems/transfer_not_pending",
                                  "detail": "no such transfer is waiting for an answer"})
    )  # fmt: skip
    sign_in(client, "caseworker", region="khatlon", office="bokhtar")
    csrf = csrf_of(client.get("/signin").text)
    page = client.post(f"/cases/{CASE}/transfers/{TRANSFER}/cancel", data={"csrf_token": csrf})
    assert page.status_code == 409
    assert "This transfer is no longer waiting" in page.text
    assert "no such transfer" not in page.text


@pytest.mark.parametrize("forged", ["x y", "<script>", "-x"])
def test_a_forged_transfer_id_gets_no_cancel_form_and_reaches_no_api(
    client: TestClient, apis: FakeApis, forged: str
) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []
    sign_in(client, "caseworker", region="khatlon", office="bokhtar")
    page = client.get(f"/cases/{CASE}", params={"done": "transfer", "transfer": forged}).text
    assert "/cancel" not in page
    csrf = csrf_of(page)
    r = client.post(f"/cases/{CASE}/transfers/{forged}/cancel", data={"csrf_token": csrf})
    assert r.status_code == 404
    assert _posts(apis) == []


@pytest.mark.parametrize("role", ["provider", "auditor", "coordinator"])
def test_other_roles_cannot_cancel_a_transfer(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="khatlon")
    csrf = csrf_of(client.get("/signin").text)
    r = client.post(f"/cases/{CASE}/transfers/{TRANSFER}/cancel", data={"csrf_token": csrf})
    assert r.status_code == 403
    assert apis.calls == []


def test_referrals_the_referral_service_does_not_list_are_shown_as_the_case_records_them(
    client: TestClient, apis: FakeApis
) -> None:
    """Under emergency access (or while routing) the referral service lists none."""
    referral = {"referral_id": "r1", "needs": ["shelter"], "urgency": "urgent",
                "consent_id": None, "emergency_without_consent": False,
                "emergency_reason": None, "note": None,
                "requested_at": "2026-11-29T08:20:00Z"}  # fmt: skip
    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "referrals": [referral]}
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []  # the referral service's own scope
    sign_in(client, "caseworker", region="gbao", office="khorog")
    page = client.get(f"/cases/{CASE}").text
    assert "under emergency access, it does not open them to you" in page
    assert "(Urgent)" in page
    assert "No referrals yet." not in page
