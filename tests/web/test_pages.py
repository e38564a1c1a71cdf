"""Pages against fake APIs: what each asks the APIs for, and what it shows."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser

import httpx
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE_ID = str(uuid.uuid4())
CASE = {
    "id": CASE_ID,
    "version": 3,
    "status": "open",
    "caseworker": "amina",
    "office": "khujand",
    "region": "sughd",
    "district": "khujand",
    "categories": ["trafficking"],
    "opened_at": "2026-11-29T08:00:00Z",
    "updated_at": "2026-11-29T08:05:00Z",
    "close_reason": None,
    "identity_erased": False,
    "identifying_fields_visible": False,
    "profile": None,
    "needs": None,
    "identification": None,
    "consents": [],
    "referrals": [],
    "notes": [],
}


def test_the_case_page_asks_for_no_identifying_fields_and_show_does(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", f"/cases/{CASE_ID}")] = CASE
    apis.routes[("GET", f"/cases/{CASE_ID}/referrals")] = []
    sign_in(client)
    page = client.get(f"/cases/{CASE_ID}")
    assert page.status_code == 200
    assert apis.calls[-2].url.params["identifying"] == "false"
    shown = client.post(f"/cases/{CASE_ID}/show", data={"csrf_token": csrf_of(page.text)})
    assert shown.status_code == 200
    assert "identifying" not in apis.calls[-2].url.params


def test_a_service_that_does_not_answer_is_said_so(client: TestClient, apis: FakeApis) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    apis.routes[("GET", "/cases")] = down
    sign_in(client)
    r = client.get("/cases")
    assert r.status_code == 503
    assert "does not answer" in r.text
    assert sum(c.url.path == "/cases" for c in apis.calls) == 2  # a read is tried twice


def test_the_inbox_counts_withdrawn_referrals_instead_of_listing_them(
    client: TestClient, apis: FakeApis
) -> None:
    def referral(status: str, need: str) -> dict[str, object]:
        return {
            "referral_id": str(uuid.uuid4()), "case_reference": "SP-AAAA-BBBB-CCCC-DDDD",
            "need": need, "urgency": "urgent", "status": status,
            "categories": ["trafficking"], "region": "sughd", "district": None,
            "sex": "female", "age_band": "18-24", "language": "tg", "disability": False,
            "respond_by": None, "version": 1,
        }  # fmt: skip

    apis.routes[("GET", "/providers/shelter-a/referrals")] = [
        referral("awaiting_answer", "shelter"),
        referral("withdrawn", "legal_aid"),
    ]
    sign_in(client, "provider", provider_id="shelter-a")
    page = client.get("/inbox")
    assert page.text.count('class="card"') == 1
    assert "withdrawn by the caseworker" in page.text
    assert "Legal aid" not in page.text


def test_other_roles_do_not_reach_the_caseworker_pages(
    make_client: MakeClient, apis: FakeApis
) -> None:
    for role in ("provider", "auditor"):
        client = make_client()
        sign_in(client, role, provider_id="shelter-a")
        assert client.get("/cases/new").status_code == 403
        assert client.get(f"/cases/{CASE_ID}").status_code == 403
    assert apis.calls == []


def _case_referral(
    status: str, urgency: str, respond_by: str | None, attempt: int = 1
) -> dict[str, object]:
    return {
        "referral_id": str(uuid.uuid4()), "case_id": CASE_ID, "request_id": str(uuid.uuid4()),
        "need": "shelter", "urgency": urgency, "status": status,
        "provider_id": "shelter-a" if status != "unroutable" else None,
        "coordinator_id": "nrm-sughd" if status == "unroutable" else None,
        "attempt": attempt, "respond_by": respond_by, "reasons": None,
        "updated_at": "2026-11-29T08:00:00Z", "version": 2,
    }  # fmt: skip


def test_the_supervisor_sees_overdue_escalated_and_unroutable_referrals_most_urgent_first(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/cases")] = {"items": [{**CASE}], "next_cursor": None}
    apis.routes[("GET", f"/cases/{CASE_ID}/referrals")] = [
        _case_referral("awaiting_answer", "routine", "2026-11-30T09:00:00Z"),
        _case_referral("awaiting_answer", "emergency", "2026-11-29T08:30:00Z", attempt=2),
        _case_referral("unroutable", "urgent", None),
        _case_referral("accepted", "urgent", None),
    ]
    sign_in(client, "supervisor", region="sughd")
    page = client.get("/supervise").text  # the clock stands at 09:00 UTC
    waiting, unroutable = page.split('id="unroutable-heading"')
    assert waiting.index("Emergency") < waiting.index("Routine")
    assert waiting.count('class="overdue"') == 1 and "(escalated)" in waiting
    assert "nrm-sughd" in unroutable and "Accepted" not in page


def test_the_auditor_is_told_in_words_when_a_chain_is_broken(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", f"/cases/{CASE_ID}/history")] = {"case_id": CASE_ID, "entries": []}
    apis.routes[("GET", f"/cases/{CASE_ID}/access-log")] = {"case_id": CASE_ID, "reads": []}
    good = {"ok": True, "events": 4, "checkpoints_verified": 1, "chain_breaks": [], "problems": []}
    bad = {
        **good,
        "ok": False,
        "chain_breaks": [{"stream_id": CASE_ID, "stream_version": 2,
                          "event_id": "0193-changed", "kind": "changed", "detail": "hash"}],
    }  # fmt: skip
    apis.routes[("GET", "/audit/verify")] = lambda req: httpx.Response(
        200, json=bad if "case" in req.url.params else good
    )
    sign_in(client, "auditor")
    page = client.get(f"/audit/cases/{CASE_ID}").text
    assert "Verification FAILED" in page and "0193-changed" in page
    assert page.count("intact") == 3


def test_the_case_page_reminds_of_the_reflection_period(client: TestClient, apis: FakeApis) -> None:
    reflection = {
        "started_at": "2026-11-20T08:00:00Z",
        "ends_at": "2026-12-20T08:00:00Z",
        "days_left": 21,
        "running": True,
        "outcome": None,
    }
    apis.routes[("GET", f"/cases/{CASE_ID}")] = {**CASE, "reflection_period": reflection}
    apis.routes[("GET", f"/cases/{CASE_ID}/referrals")] = []
    sign_in(client)
    page = client.get(f"/cases/{CASE_ID}").text
    assert "Recovery and reflection period: 21 days left" in page


class _Controls(HTMLParser):
    """Form controls and the labels that name them."""

    def __init__(self) -> None:
        super().__init__()
        self.unlabelled: list[str] = []
        self.label_for: set[str] = set()
        self.ids: list[str] = []
        self.open_labels = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(str(a["for"]))
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            if self.open_labels:
                return  # wrapped in its label
            if a.get("id"):
                self.ids.append(str(a["id"]))
            else:
                self.unlabelled.append(str(a.get("name")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.open_labels -= 1


def test_every_form_control_has_a_label(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", f"/cases/{CASE_ID}")] = CASE
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    pages = [client.get("/signin").text]
    sign_in(client)
    for path in (
        "/cases",
        "/cases/new",
        f"/cases/{CASE_ID}/needs",
        f"/cases/{CASE_ID}/consent",
        f"/cases/{CASE_ID}/referral",
    ):
        r = client.get(path)
        assert r.status_code == 200, path
        pages.append(r.text)
    for html in pages:
        controls = _Controls()
        controls.feed(html)
        assert not controls.unlabelled
        assert set(controls.ids) <= controls.label_for, set(controls.ids) - controls.label_for


def test_a_form_sent_twice_carries_one_idempotency_key_and_each_form_its_own(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("POST", "/cases")] = lambda req: httpx.Response(
        201, json={"id": CASE_ID, "version": 1}
    )
    sign_in(client)
    form = client.get("/cases/new").text
    data = {
        "csrf_token": csrf_of(form),
        "form_id": re.search(r'name="form_id" value="([^"]+)"', form).group(1),  # type: ignore[union-attr]
        "region": "sughd",
    }
    client.post("/cases/new", data=data, follow_redirects=False)
    client.post("/cases/new", data=data, follow_redirects=False)
    keys = [c.headers.get("idempotency-key") for c in apis.calls if c.method == "POST"]
    assert keys == [data["form_id"], data["form_id"]]

    ids = re.findall(r'name="form_id" value="([^"]+)"', client.get("/cases/new").text)
    assert ids and ids[0] != data["form_id"]


def test_each_referral_in_the_inbox_has_its_own_form_key(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/providers/shelter-a/referrals")] = [
        {
            "referral_id": str(uuid.uuid4()), "case_reference": "SP-1", "need": need,
            "urgency": "urgent", "status": "awaiting_answer", "categories": ["trafficking"],
            "region": "sughd", "district": None, "sex": "female", "age_band": "18-24",
            "language": "tg", "disability": False, "respond_by": None, "version": 1,
        }
        for need in ("shelter", "medical")
    ]  # fmt: skip
    sign_in(client, "provider", provider_id="shelter-a")
    ids = re.findall(r'name="form_id" value="([^"]+)"', client.get("/inbox").text)
    assert len(ids) == 4 and len(set(ids)) == 4


def test_a_provider_declines_with_a_reason_and_is_told_when_it_is_missing(
    client: TestClient, apis: FakeApis
) -> None:
    rid = str(uuid.uuid4())
    apis.routes[("GET", "/providers/shelter-a/referrals")] = []
    apis.routes[("POST", f"/referrals/{rid}/decline")] = lambda req: (
        httpx.Response(200, json={"referral_id": rid, "status": "declined"})
        if b"no_capacity" in req.content
        else httpx.Response(422, json={"status": 422, "errors": [
            {"path": "body.reason_code", "type": "literal_error"}]})
    )  # fmt: skip
    sign_in(client, "provider", provider_id="shelter-a")
    token = csrf_of(client.get("/inbox").text)
    ok = client.post(
        f"/inbox/{rid}/decline",
        data={"csrf_token": token, "reason_code": "no_capacity"},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/inbox?done=decline"
    missing = client.post(f"/inbox/{rid}/decline", data={"csrf_token": token})
    assert "Please choose a reason to decline." in missing.text


def _unroutable(rid: str) -> dict[str, object]:
    return {
        "referral_id": rid, "case_reference": "SP-COOR-DINA-TORS-0001", "need": "shelter",
        "urgency": "emergency", "status": "unroutable", "categories": ["mine_eo"],
        "region": "gbao", "district": "khorog", "sex": "male", "age_band": "25-39",
        "language": "tg", "disability": True, "respond_by": None, "version": 2,
        "provider_id": None, "coordinator_id": "nmac", "attempt": 1,
        "reasons": {"matched": [], "proximity": None, "language_match": None,
                    "consent_basis": None, "passed_over": [],
                    "excluded": [{"provider_id": "far-shelter", "failed": ["area"]}],
                    "not_offering": 3, "summary": "x"},
    }  # fmt: skip


def test_a_coordinator_gives_an_unroutable_referral_to_a_provider_by_hand(
    client: TestClient, apis: FakeApis
) -> None:
    rid = str(uuid.uuid4())
    apis.routes[("GET", "/coordinator/referrals")] = [_unroutable(rid)]
    apis.routes[("POST", f"/referrals/{rid}/assign")] = lambda req: (
        httpx.Response(200, json=_unroutable(rid))
        if b"far-shelter" in req.content
        else httpx.Response(422, json={"status": 422, "errors": [
            {"path": "body.provider_id", "type": "unknown_provider"}]})
    )  # fmt: skip
    sign_in(client, "coordinator", region="gbao", categories=["mine_eo"])
    page = client.get("/coordinate").text
    assert '<option value="far-shelter">' in page and "SP-COOR-DINA-TORS-0001" in page
    token = csrf_of(page)
    form_id = re.findall(r'name="form_id" value="([^"]+)"', page)[0]
    ok = client.post(
        f"/coordinate/{rid}/assign",
        data={"csrf_token": token, "form_id": form_id, "provider_id": "far-shelter",
              "reason_code": "travel_arranged"},
        follow_redirects=False,
    )  # fmt: skip
    assert ok.headers["location"] == "/coordinate?done=assign"
    sent = apis.calls[-1]
    assert sent.headers["idempotency-key"] == form_id
    assert apis.bearer_claims(sent)["role"] == "coordinator"
    assert apis.bearer_claims(sent)["categories"] == ["mine_eo"]  # what NMAC coordinates
    wrong = client.post(
        f"/coordinate/{rid}/assign",
        data={"csrf_token": token, "provider_id": "nobody", "reason_code": "other"},
        follow_redirects=False,
    )
    assert wrong.headers["location"] == "/coordinate?problem=provider"


def test_only_coordinators_and_admins_reach_the_coordinator_page(
    make_client: MakeClient, apis: FakeApis
) -> None:
    for role in ("caseworker", "supervisor", "provider", "auditor"):
        client = make_client()
        sign_in(client, role, provider_id="shelter-a", region="gbao")
        assert client.get("/coordinate").status_code == 403
    assert apis.calls == []


def test_the_development_sign_in_binds_a_coordinator_to_its_categories_and_no_one_else(
    make_client: MakeClient, apis: FakeApis
) -> None:
    """A coordinator signed in here coordinates what it ticked (none ticked: none; the
    referral service then shows it nothing); on any other role the ticks are dropped, and a
    forged category is refused at its field, with no token minted."""
    apis.routes[("GET", "/coordinator/referrals")] = []
    for role, ticked, expected in (
        ("coordinator", ["trafficking", "refugee_asylum"], ["trafficking", "refugee_asylum"]),
        ("coordinator", [], None),
        ("auditor", ["trafficking"], None),
    ):
        client = make_client()
        sign_in(client, role, categories=ticked)
        client.get("/coordinate" if role == "coordinator" else "/statistics")
        assert apis.bearer_claims(apis.calls[-1]).get("categories") == expected, role
    client = make_client()
    page = client.get("/signin")
    assert 'name="categories" value="mine_eo"' in page.text
    forged = client.post(
        "/signin/dev",
        data={"csrf_token": csrf_of(page.text), "role": "coordinator", "sub": "c",
              "categories": ["everything"]},
        follow_redirects=False,
    )  # fmt: skip
    assert forged.status_code == 422
    assert 'aria-describedby="err-categories"' in forged.text
