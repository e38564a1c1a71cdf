"""The web app's case-plan, reflection, transfer-cancel and break-the-glass forms against
the real case service (this test's Postgres and NATS), driven as a browser would:
sign in, read the form, post it with its CSRF token. What the form sends must be what
the API takes; a refused form must leave the case unchanged; outside the scope the
form reaches nothing.

The referral service is not started: its one read on the case page answers an empty
list here."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.case.main import create_app as create_case_app
from services.web.config import WebSettings
from services.web.main import create_app as create_web_app
from shared.auth import AuthConfig, mint_token
from shared.settings import Settings
from tests.integration.case.conftest import stop_background_tasks
from tests.integration.case.stories import GIVEN_NAME, intake, open_case
from tests.web.fakes import csrf_of

KHUJAND = {"sub": "cw-khujand-web", "office": "khujand-nrm", "region": "sughd"}
KHOROG = {"sub": "cw-khorog-web", "office": "khorog", "region": "gbao"}
FRESH = re.compile(r'action="(/cases/[^"]+/(?:plan/goals|follow-ups)/[^"/]+)"')


class Services(httpx.AsyncBaseTransport):
    """The web app's API calls: the case service in process, the referral service's case
    list empty, anything else unavailable."""

    def __init__(self, case_app: FastAPI) -> None:
        self.case = httpx.ASGITransport(app=case_app)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "case.test":
            return await self.case.handle_async_request(request)
        if request.url.host == "referral.test" and request.url.path.endswith("/referrals"):
            return httpx.Response(200, json=[])
        return httpx.Response(503, json={"status": 503})


@pytest.fixture
def case_settings(service_settings: Callable[..., Settings]) -> Settings:
    return service_settings("case")


@pytest.fixture
async def case_app(case_settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_case_app(case_settings)
    async with app.router.lifespan_context(app):
        yield app
        await stop_background_tasks(app)


@pytest.fixture
async def api(case_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=case_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://case.test") as c:
        yield c


@pytest.fixture
async def web_app(case_settings: Settings, case_app: FastAPI) -> AsyncIterator[FastAPI]:
    web = WebSettings(
        case_url="http://case.test",
        referral_url="http://referral.test",
        notify_url="http://notify.test",
    )
    app = create_web_app(case_settings, web, api_transport=Services(case_app))
    async with app.router.lifespan_context(app):
        yield app


Browser = Callable[..., Any]


@pytest.fixture
async def signed(web_app: FastAPI) -> AsyncIterator[Browser]:
    """``await signed(role, **claims)``: a browser signed in on the web app."""
    opened: list[httpx.AsyncClient] = []

    async def make(role: str, **claims: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web_app),
            base_url="https://testserver",
            headers={"accept-language": "en"},
        )
        opened.append(client)
        page = await client.get("/signin")
        form = {"csrf_token": csrf_of(page.text), "role": role, **claims}
        r = await client.post("/signin/dev", data=form)
        assert r.status_code == 303, r.text
        return client

    try:
        yield make
    finally:
        for c in opened:
            await c.aclose()


def headers(
    settings: Settings, role: str, *, sub: str, office: str | None = None, region: str | None = None
) -> dict[str, str]:
    config = AuthConfig.from_settings(settings)
    token = mint_token(config, sub, role, office=office, region=region)
    return {"Authorization": f"Bearer {token}"}


async def version(api: httpx.AsyncClient, h: dict[str, str], case_id: str) -> int:
    r = await api.get(f"/cases/{case_id}", params={"identifying": "false"}, headers=h)
    assert r.status_code == 200, r.text
    return int(r.json()["version"])


async def post_form(
    client: httpx.AsyncClient, form_path: str, fields: dict[str, str], to: str | None = None
) -> httpx.Response:
    """Read the form at ``form_path`` and post it (to its own path unless ``to``)."""
    page = await client.get(form_path)
    assert page.status_code == 200, page.text
    target = to or form_path
    data = {"csrf_token": csrf_of(page.text), **fields}
    return await client.post(target, data=data)


async def test_plan_reflection_and_transfer_forms_against_the_case_service(
    api: httpx.AsyncClient, case_settings: Settings, signed: Browser
) -> None:
    owner = headers(case_settings, "caseworker", **KHUJAND)
    case_id = await open_case(api, owner)
    r = await api.post(f"/cases/{case_id}/needs", json={"needs": ["shelter"]}, headers=owner)
    assert r.status_code == 200, r.text
    web = await signed("caseworker", **KHUJAND)

    # A goal: the add form's fresh id; a past date is refused at its field, nothing appended.
    new = await web.get(f"/cases/{case_id}/plan/goals/new")
    m = FRESH.search(new.text)
    assert m, new.text
    goal_path = m.group(1)
    before = await version(api, owner, case_id)
    past = (date.today() - timedelta(days=3)).isoformat()
    refused = await web.post(
        goal_path,
        data={"csrf_token": csrf_of(new.text), "need": "shelter", "due_on": past},
    )
    assert refused.status_code == 422
    assert 'id="err-due_on"' in refused.text
    assert await version(api, owner, case_id) == before
    due = (date.today() + timedelta(days=10)).isoformat()
    fields = {"need": "shelter", "due_on": due, "description": "a bed", "status": "open"}
    r = await web.post(goal_path, data={"csrf_token": csrf_of(new.text), **fields})
    assert (r.status_code, r.headers["location"]) == (303, f"/cases/{case_id}?done=goal")
    view = (await api.get(f"/cases/{case_id}", headers=owner)).json()
    [goal] = view["plan"]
    assert (goal["need"], goal["due_on"], goal["status"], goal["description"]) == (
        "shelter",
        due,
        "open",
        "a bed",
    )
    page = (await web.get(f"/cases/{case_id}")).text
    assert f'href="{goal_path}"' in page and "a bed" not in page
    # Changed to achieved from its edit form: the edit form keeps need and date.
    r = await post_form(web, goal_path, {**fields, "status": "achieved"})
    assert r.status_code == 303, r.text
    [goal] = (await api.get(f"/cases/{case_id}", headers=owner)).json()["plan"]
    assert goal["status"] == "achieved"

    # A follow-up, done when ticked.
    new = await web.get(f"/cases/{case_id}/follow-ups/new")
    m = FRESH.search(new.text)
    assert m
    r = await web.post(
        m.group(1),
        data={"csrf_token": csrf_of(new.text), "due_on": due, "note": "call", "done": "on"},
    )
    assert r.status_code == 303, r.text
    [follow_up] = (await api.get(f"/cases/{case_id}", headers=owner)).json()["follow_ups"]
    assert (follow_up["due_on"], follow_up["done"], follow_up["note"]) == (due, True, "call")

    # The reflection period: started by a presumed identification, extended with a reason.
    r = await post_form(
        web,
        f"/cases/{case_id}/identification",
        {"status": "presumed", "basis": "indicators_present", "deciding_agency": "police"},
    )
    assert r.status_code == 303, r.text
    period = (await api.get(f"/cases/{case_id}", headers=owner)).json()["reflection_period"]
    assert period["running"]
    page = (await web.get(f"/cases/{case_id}")).text
    assert f'href="/cases/{case_id}/reflection"' in page
    before = await version(api, owner, case_id)
    r = await post_form(web, f"/cases/{case_id}/reflection", {"days": "0", "reason_code": "other"})
    assert r.status_code == 422 and 'id="err-days"' in r.text
    assert await version(api, owner, case_id) == before
    r = await post_form(
        web, f"/cases/{case_id}/reflection", {"days": "14", "reason_code": "medical_treatment"}
    )
    assert r.status_code == 303, r.text
    longer = (await api.get(f"/cases/{case_id}", headers=owner)).json()["reflection_period"]
    assert longer["ends_at"] > period["ends_at"]

    # A transfer requested, then cancelled by the sender from the case page.
    r = await post_form(web, f"/cases/{case_id}/transfer", {"to_office": "bokhtar"})
    assert r.status_code == 303, r.text
    landing = await web.get(r.headers["location"])
    cancel = re.search(r'action="(/cases/[^"]+/transfers/[^"]+/cancel)"', landing.text)
    assert cancel, landing.text
    r = await web.post(cancel.group(1), data={"csrf_token": csrf_of(landing.text)})
    assert (r.status_code, r.headers["location"]) == (
        303,
        f"/cases/{case_id}?done=transfer_cancelled",
    )
    bokhtar = headers(case_settings, "caseworker", sub="cw-bokhtar", office="bokhtar",
                      region="khatlon")  # fmt: skip
    waiting = (await api.get("/transfers/incoming", headers=bokhtar)).json()
    assert case_id not in str(waiting)
    # Cancelling it again: no longer waiting, said by its type.
    again = await web.post(cancel.group(1), data={"csrf_token": csrf_of(landing.text)})
    assert again.status_code == 409 and "no longer waiting" in again.text
    # And a new request is taken (nothing left pending).
    r = await post_form(web, f"/cases/{case_id}/transfer", {"to_office": "bokhtar"})
    assert r.status_code == 303 and "transfer=" in r.headers["location"]


async def test_break_the_glass_from_the_web_app(
    api: httpx.AsyncClient, case_settings: Settings, signed: Browser
) -> None:
    owner = headers(case_settings, "caseworker", **KHUJAND)
    case_id = await open_case(api, owner)
    r = await api.post(f"/cases/{case_id}/needs", json={"needs": ["shelter"]}, headers=owner)
    assert r.status_code == 200
    khorog = await signed("caseworker", **KHOROG)

    # Outside the scope: not found, with the way to break the glass.
    page = await khorog.get(f"/cases/{case_id}")
    assert page.status_code == 404
    assert f'href="/cases/{case_id}/break-glass"' in page.text
    # Nor may the plan be changed from outside: the API's 404, nothing appended.
    before = await version(api, owner, case_id)
    csrf = csrf_of(page.text)
    r = await khorog.post(
        f"/cases/{case_id}/plan/goals/goal-x",
        data={"csrf_token": csrf, "need": "shelter"},
    )
    assert r.status_code == 404
    # A reason too short: at its field, nothing granted.
    r = await post_form(khorog, f"/cases/{case_id}/break-glass", {"reason": "urgent"})
    assert r.status_code == 422 and 'id="err-reason"' in r.text
    assert await version(api, owner, case_id) == before
    assert (await khorog.get(f"/cases/{case_id}")).status_code == 404

    reason = "Brought unconscious to Khorog hospital; her caseworker cannot be reached."
    r = await post_form(khorog, f"/cases/{case_id}/break-glass", {"reason": reason})
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(f"/cases/{case_id}?done=break_glass&until=")
    opened = await khorog.get(r.headers["location"])
    assert opened.status_code == 200
    assert "The access ends at" in opened.text
    assert reason not in opened.text
    # The grant is on the case's history (for the auditors), its reason sealed.
    auditor = headers(case_settings, "auditor", sub="auditor-1", region="sughd")
    history = await api.get(f"/cases/{case_id}/history", headers=auditor)
    assert "EmergencyAccessGranted" in history.text and "unconscious" not in history.text
    # The owner's office needs no glass: said, not granted.
    web = await signed("caseworker", **KHUJAND)
    r = await post_form(web, f"/cases/{case_id}/break-glass", {"reason": reason})
    assert r.headers["location"] == f"/cases/{case_id}?done=in_scope"


async def test_a_profile_change_keeps_what_the_form_has_no_field_for(
    api: httpx.AsyncClient, case_settings: Settings, signed: Browser
) -> None:
    owner = headers(case_settings, "caseworker", **KHUJAND)
    facts = {
        "exploitation_forms": ["forced_labour"],
        "scope": "cross_border",
        "period_start": "2024-01-10",
        "period_end": "2024-10-10",
    }
    case_id = await open_case(api, owner, intake(trafficking=facts))
    web = await signed("caseworker", **KHUJAND)
    page = await web.get(f"/cases/{case_id}/profile")
    assert page.status_code == 200 and GIVEN_NAME not in page.text
    opened = await web.post(
        f"/cases/{case_id}/profile/open", data={"csrf_token": csrf_of(page.text)}
    )
    assert opened.status_code == 200 and f'value="{GIVEN_NAME}"' in opened.text
    form = form_values(opened.text)

    # A bad language: at its field, nothing appended.
    before = await version(api, owner, case_id)
    bad = await web.post(f"/cases/{case_id}/profile", data={**form, "language": "xx"})
    assert bad.status_code == 422 and 'id="err-language"' in bad.text
    assert await version(api, owner, case_id) == before

    # Russian with an interpreter: the names, documents and category facts stay.
    r = await web.post(
        f"/cases/{case_id}/profile",
        data={**form, "language": "ru", "interpreter_needed": "on"},
    )
    assert (r.status_code, r.headers["location"]) == (303, f"/cases/{case_id}?done=profile")
    supervisor = headers(case_settings, "supervisor", sub="sv-sughd", region="sughd")
    profile = (await api.get(f"/cases/{case_id}", headers=supervisor)).json()["profile"]
    assert (profile["language"], profile["interpreter_needed"]) == ("ru", True)
    assert profile["identifying"]["given_name"] == GIVEN_NAME
    assert profile["identifying"]["exploitation_started_on"] == "2024-01-10"
    assert profile["trafficking"]["exploitation_forms"] == ["forced_labour"]
    assert profile["trafficking"]["exploitation_months"] == 9
    # Every read of the identifying details the web app made for the caseworker is on the
    # access log: opening the form, and each sending (the refused one too).
    auditor = headers(case_settings, "auditor", sub="auditor-1", region="sughd")
    log = await api.get(f"/cases/{case_id}/access-log", headers=auditor)
    assert log.status_code == 200, log.text
    assert log.text.count(KHUJAND["sub"]) == 3, log.text


def form_values(html: str) -> dict[str, str | list[str]]:
    """What a browser would send for the form as drawn: inputs, checked boxes, selected
    options and text areas (enough for the profile form)."""
    out: dict[str, str | list[str]] = {}
    for tag in re.findall(r"<input [^>]*>", html):
        name = re.search(r'name="([^"]+)"', tag)
        if not name:
            continue
        value = re.search(r'value="([^"]*)"', tag)
        if 'type="checkbox"' in tag:
            if " checked" in tag:
                got = out.setdefault(name.group(1), [])
                assert isinstance(got, list)
                got.append(value.group(1) if value else "on")
            continue
        out[name.group(1)] = html_unescape(value.group(1)) if value else ""
    for name, body in re.findall(r'<select [^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected', body)
        out[name] = chosen.group(1) if chosen else ""
    for name, body in re.findall(
        r'<textarea [^>]*name="([^"]+)"[^>]*>(.*?)</textarea>', html, re.S
    ):
        out[name] = html_unescape(body)
    return out


def html_unescape(value: str) -> str:
    return html.unescape(value)
