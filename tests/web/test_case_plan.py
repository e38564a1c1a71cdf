"""The case plan in the web app, over the case API (fake here): goals and follow-ups are
listed on the case page, added and changed with a PUT under an id drawn with the form;
only case writers see or send the forms; the API's 422 lands at its field and nothing
else is sent; the sealed text is shown only on request (a recorded read)."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE = "0190a000-0000-7000-8000-0000000000aa"
GOAL = {
    "goal_id": "goal-1", "need": "shelter", "description": None, "provider_id": "shelter-a",
    "due_on": "2026-12-10", "status": "open", "set_at": "2026-11-29T08:30:00Z",
}  # fmt: skip
FOLLOW_UP = {
    "follow_up_id": "follow-up-1", "due_on": "2026-12-05", "note": None, "done": False,
    "set_at": "2026-11-29T08:40:00Z",
}  # fmt: skip
VIEW = {
    "id": CASE, "status": "open", "region": "sughd", "categories": ["trafficking"],
    "office": "khujand", "opened_at": "2026-11-29T08:00:00Z", "referrals": [], "consents": [],
    "needs": {"needs": ["shelter", "legal_aid"], "assessed_at": "2026-11-29T08:05:00Z"},
    "plan": [GOAL], "follow_ups": [FOLLOW_UP],
}  # fmt: skip
WRITTEN = {"case_id": CASE, "version": 7}
FRESH_GOAL = re.compile(rf'action="/cases/{CASE}/plan/goals/(goal-[0-9a-f]{{16}})"')


def _views(request: httpx.Request) -> httpx.Response:
    """The case without identifying fields, or with them (the sealed texts) when asked."""
    if request.url.params.get("identifying") == "false":
        return httpx.Response(200, json=VIEW)
    opened = {
        **VIEW,
        "plan": [{**GOAL, "description": "a bed in the Khujand shelter"}],
        "follow_ups": [{**FOLLOW_UP, "note": "call her sister"}],
    }
    return httpx.Response(200, json=opened)


@pytest.fixture(autouse=True)
def _case(apis: FakeApis) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = _views
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = []


def _puts(apis: FakeApis) -> list[httpx.Request]:
    return [c for c in apis.calls if c.method == "PUT"]


def test_the_case_page_lists_goals_and_follow_ups_with_their_forms(
    make_client: MakeClient,
) -> None:
    client = make_client(language="ru")
    sign_in(client, "caseworker", region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}").text
    russian = client.app.state.catalogs["ru"].gettext  # type: ignore[attr-defined]
    assert russian("Case plan") in page and russian("Case plan") != "Case plan"
    assert "shelter-a" in page and russian("Open") in page
    assert f'href="/cases/{CASE}/plan/goals/goal-1"' in page
    assert f'href="/cases/{CASE}/follow-ups/follow-up-1"' in page
    assert f'href="/cases/{CASE}/plan/goals/new"' in page
    assert f'href="/cases/{CASE}/follow-ups/new"' in page


@pytest.mark.parametrize("role", ["provider", "auditor", "coordinator"])
def test_other_roles_neither_open_nor_send_a_plan_form(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, provider_id="shelter-a", region="sughd")
    csrf = csrf_of(client.get("/signin").text)
    for path in ("plan/goals/new", "plan/goals/goal-1", "follow-ups/new", "follow-ups/f-1"):
        assert client.get(f"/cases/{CASE}/{path}").status_code == 403, path
    for path in ("plan/goals/goal-1", "plan/goals/goal-1/show", "follow-ups/f-1"):
        form = {"csrf_token": csrf, "need": "shelter", "due_on": "2026-12-10"}
        assert client.post(f"/cases/{CASE}/{path}", data=form).status_code == 403, path
    assert apis.calls == []


def test_a_new_goal_is_put_under_an_id_drawn_with_the_form(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, "caseworker", region="sughd", office="khujand")
    shown = client.get(f"/cases/{CASE}/plan/goals/new")
    assert shown.status_code == 200
    m = FRESH_GOAL.search(shown.text)
    assert m, "the form posts to a fresh goal id"
    again = FRESH_GOAL.search(client.get(f"/cases/{CASE}/plan/goals/new").text)
    assert again and again.group(1) != m.group(1)
    # only the assessed needs are offered
    assert 'value="shelter"' in shown.text and 'value="medical"' not in shown.text
    goal_id = m.group(1)
    apis.routes[("PUT", f"/cases/{CASE}/plan/goals/{goal_id}")] = WRITTEN
    form = {"csrf_token": csrf_of(shown.text), "form_id": "g" * 24, "need": "legal_aid",
            "description": "a lawyer for the hearing", "provider_id": "", "due_on": "2026-12-20",
            "status": "open"}  # fmt: skip
    r = client.post(f"/cases/{CASE}/plan/goals/{goal_id}", data=form, follow_redirects=False)
    assert (r.status_code, r.headers["location"]) == (303, f"/cases/{CASE}?done=goal")
    [sent] = _puts(apis)
    assert json.loads(sent.content) == {
        "need": "legal_aid",
        "description": "a lawyer for the hearing",
        "due_on": "2026-12-20",
        "status": "open",
    }
    assert sent.headers["idempotency-key"] == "g" * 24
    assert apis.bearer_claims(sent)["sub"] == "test-caseworker"


def test_changing_a_goal_starts_from_it_and_says_its_sealed_text_is_not_shown(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, "caseworker", region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}/plan/goals/goal-1")
    assert page.status_code == 200
    assert 'value="2026-12-10"' in page.text and 'value="shelter-a"' in page.text
    assert 'value="shelter" selected' in page.text
    assert "Show the sealed text" in page.text
    assert "a bed in the Khujand shelter" not in page.text
    # opening the form read the case without identifying fields
    reads = [c for c in apis.calls if c.url.path == f"/cases/{CASE}"]
    assert reads and all(c.url.params.get("identifying") == "false" for c in reads)


def test_showing_the_sealed_text_is_a_recorded_read_on_request_only(
    client: TestClient, apis: FakeApis
) -> None:
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(client.get(f"/cases/{CASE}/plan/goals/goal-1").text)
    page = client.post(f"/cases/{CASE}/plan/goals/goal-1/show", data={"csrf_token": csrf})
    assert page.status_code == 200
    assert "a bed in the Khujand shelter" in page.text
    assert "Your look at these details has been recorded." in page.text
    reads = [c for c in apis.calls if c.method == "GET" and c.url.path == f"/cases/{CASE}"]
    assert reads[-1].url.params.get("identifying") is None  # the recorded read
    follow_up = client.post(f"/cases/{CASE}/follow-ups/follow-up-1/show", data={"csrf_token": csrf})
    assert "call her sister" in follow_up.text
    assert _puts(apis) == []


def test_a_past_due_date_is_said_at_its_field_in_tajik_and_nothing_else_is_sent(
    make_client: MakeClient, apis: FakeApis
) -> None:
    apis.routes[("PUT", f"/cases/{CASE}/plan/goals/goal-1")] = lambda req: httpx.Response(
        422,
        json={"status": 422, "detail": "a new or changed due date may not lie in the past",
              "errors": [{"path": "body.due_on", "type": "invalid_goal",
                          "message": "a new or changed due date may not lie in the past"}]},
    )  # fmt: skip
    client = make_client(language="tg")
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(client.get(f"/cases/{CASE}/plan/goals/goal-1").text)
    form = {"csrf_token": csrf, "need": "shelter", "due_on": "2020-01-01", "status": "open"}
    page = client.post(f"/cases/{CASE}/plan/goals/goal-1", data=form)
    assert page.status_code == 422
    assert 'id="err-due_on"' in page.text and 'aria-invalid="true"' in page.text
    assert 'value="2020-01-01"' in page.text  # what was typed, to correct it
    assert "may not lie in the past" not in page.text  # never the API's English
    assert len(_puts(apis)) == 1
    assert [c.method for c in apis.calls if c.method != "GET"] == ["PUT"]


def test_a_closed_case_is_said_by_its_type(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("PUT", f"/cases/{CASE}/follow-ups/follow-up-1")] = lambda req: httpx.Response(
        409, json={"status": 409, "type": "https://safepath.example/problems/case_closed",
                   "detail": "the case is closed: cannot set_follow_up"},
    )  # fmt: skip
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(client.get(f"/cases/{CASE}/follow-ups/follow-up-1").text)
    page = client.post(
        f"/cases/{CASE}/follow-ups/follow-up-1", data={"csrf_token": csrf, "due_on": "2026-12-05"}
    )
    assert page.status_code == 409
    assert "The case is closed: reopen it first." in page.text
    assert "cannot set_follow_up" not in page.text


@pytest.mark.parametrize("done", [True, False])
def test_a_follow_up_is_sent_whole_with_done_as_ticked(
    client: TestClient, apis: FakeApis, done: bool
) -> None:
    apis.routes[("PUT", f"/cases/{CASE}/follow-ups/follow-up-1")] = WRITTEN
    sign_in(client, "supervisor", region="sughd")
    page = client.get(f"/cases/{CASE}/follow-ups/follow-up-1")
    assert 'value="2026-12-05"' in page.text
    form = {"csrf_token": csrf_of(page.text), "form_id": "f" * 24, "due_on": "2026-12-05",
            "note": "", **({"done": "on"} if done else {})}  # fmt: skip
    r = client.post(f"/cases/{CASE}/follow-ups/follow-up-1", data=form, follow_redirects=False)
    assert r.headers["location"] == f"/cases/{CASE}?done=follow_up"
    [sent] = _puts(apis)
    assert json.loads(sent.content) == {"due_on": "2026-12-05", "done": done}


@pytest.mark.parametrize("goal_id", ["new", "-starts-with-dash", "x" * 65, "a b"])
def test_an_id_the_api_would_refuse_reaches_no_api(
    client: TestClient, apis: FakeApis, goal_id: str
) -> None:
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(client.get("/signin").text)
    r = client.post(
        f"/cases/{CASE}/plan/goals/{goal_id}",
        data={"csrf_token": csrf, "need": "shelter"},
    )
    assert r.status_code == 404
    assert _puts(apis) == []


def test_a_goal_needs_an_assessment_first(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", f"/cases/{CASE}")] = {**VIEW, "needs": None, "plan": []}
    sign_in(client, "caseworker", region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}/plan/goals/new").text
    assert "Record the case&#39;s needs first" in page
    assert 'name="need"' not in page


def test_a_case_outside_scope_is_the_apis_404(client: TestClient, apis: FakeApis) -> None:
    other = "0190a000-0000-7000-8000-0000000000bb"
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(client.get("/signin").text)
    form = {"csrf_token": csrf, "need": "shelter", "due_on": "2026-12-10"}
    r = client.post(f"/cases/{other}/plan/goals/goal-1", data=form)
    assert r.status_code == 404  # the fake answers 404 for the PUT, as the API would


def test_the_directorys_providers_are_suggested_by_name(
    make_client: MakeClient, apis: FakeApis
) -> None:
    def entry(pid: str, en: str, ru: str, suspended: bool = False) -> dict[str, object]:
        return {"provider": {"id": pid, "name": {"en": en, "ru": ru}},
                "suspended": suspended, "places_in_use": 0}  # fmt: skip

    apis.routes[("GET", "/directory/providers")] = [
        entry("shelter-khujand", "Khujand shelter", "Приют Худжанда"),
        entry("legal-aid-sughd", "Sughd legal aid", "Юридическая помощь Согда"),
        entry("closed-one", "Closed", "Закрыт", suspended=True),
    ]
    client = make_client(language="ru")
    sign_in(client, "caseworker", region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}/plan/goals/new").text
    assert 'list="f-provider_id-list"' in page
    assert '<option value="shelter-khujand">Приют Худжанда</option>' in page
    assert page.index("shelter-khujand") < page.index("legal-aid-sughd")  # by Russian name
    assert "closed-one" not in page
    # the follow-up form has no provider, and asks the referral service nothing
    before = len(apis.calls)
    client.get(f"/cases/{CASE}/follow-ups/new")
    assert [c.url.path for c in apis.calls[before:]] == [f"/cases/{CASE}"]


def test_without_the_directory_the_provider_is_typed(client: TestClient, apis: FakeApis) -> None:
    sign_in(client, "caseworker", region="sughd", office="khujand")
    page = client.get(f"/cases/{CASE}/plan/goals/new")  # the fake directory: 404
    assert page.status_code == 200 and 'name="provider_id"' in page.text
    assert "<datalist" not in page.text


def test_a_provider_the_directory_refuses_is_said_at_its_field(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("PUT", f"/cases/{CASE}/plan/goals/goal-1")] = lambda req: httpx.Response(
        422,
        json={"status": 422, "errors": [{"path": "body.provider_id", "type": "invalid_goal",
              "message": "the provider does not offer the need"}]},
    )  # fmt: skip
    sign_in(client, "caseworker", region="sughd", office="khujand")
    csrf = csrf_of(client.get(f"/cases/{CASE}/plan/goals/goal-1").text)
    form = {"csrf_token": csrf, "need": "shelter", "provider_id": "legal-aid-sughd"}
    page = client.post(f"/cases/{CASE}/plan/goals/goal-1", data=form)
    assert page.status_code == 422
    assert 'id="err-provider_id"' in page.text and 'value="legal-aid-sughd"' in page.text
    assert "does not offer" not in page.text
