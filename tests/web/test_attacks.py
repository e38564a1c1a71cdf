"""Attacks on the web app: forged forms, stolen or fixed sessions, framing and injected
scripts, the development sign-in in production, sending people elsewhere, and the web
app letting someone see more than the APIs allow."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from http.cookies import SimpleCookie
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.routing import Route

from services.web.config import WebSettings
from services.web.main import PAGE_MODULES
from tests.web.conftest import Clock, MakeClient, production_settings, sign_in
from tests.web.fakes import FakeApis, csrf_of

CASE_ID = str(uuid.uuid4())
REFERRAL_ID = str(uuid.uuid4())
# Who may post each form at all (so the CSRF check, not the role, is what refuses it).
POSTER = {
    "/cases": "caseworker",
    "/inbox": "provider",
    "/coordinate": "coordinator",
    "/duplicates": "supervisor",
    "/handover": "provider",
}


def post_routes() -> list[str]:
    """Every POST route of every page module (``main.py`` includes exactly these)."""
    paths = []
    routes = [r for m in PAGE_MODULES for r in m.router.routes]
    for route in routes:
        if isinstance(route, Route) and "POST" in (route.methods or ()):
            paths.append(
                route.path.replace("{case_id}", CASE_ID)
                .replace("{referral_id}", REFERRAL_ID)
                .replace("{transfer_id}", REFERRAL_ID)
                .replace("{action}", "accept")
                .replace("{consent_id}", REFERRAL_ID)
                .replace("{item_id}", "goal-1")
            )
    return paths


def role_for(path: str) -> str:
    for prefix, role in POSTER.items():
        if path.startswith(prefix):
            return role
    return "caseworker"


@pytest.mark.parametrize("sent", [None, "", "wrong-token"])
def test_every_form_is_refused_without_the_sessions_csrf_token(
    make_client: MakeClient, apis: FakeApis, sent: str | None
) -> None:
    paths = post_routes()
    assert {"/cases/new", "/inbox/{id}/accept".replace("{id}", REFERRAL_ID)} <= set(paths)
    for path in paths:
        client = make_client()
        role = role_for(path)
        sign_in(client, role, provider_id="shelter-a", office="khujand", region="sughd")
        before = len(apis.calls)
        data = {} if sent is None else {"csrf_token": sent}
        r = client.post(path, data=data, follow_redirects=False)
        assert r.status_code in (403, 404), (path, r.status_code)
        if path != "/signin/dev" or r.status_code == 403:
            assert "did not come from this site" in r.text, path
        assert len(apis.calls) == before, f"{path} called an API without a valid CSRF token"


def test_a_token_from_another_session_is_refused(make_client: MakeClient) -> None:
    mine, theirs = make_client(), make_client()
    sign_in(mine)
    sign_in(theirs)
    stolen = csrf_of(theirs.get("/cases/new").text)
    r = mine.post("/language", data={"csrf_token": stolen, "lang": "ru"}, follow_redirects=False)
    assert r.status_code == 403
    own = csrf_of(mine.get("/cases/new").text)
    ok = mine.post("/language", data={"csrf_token": own, "lang": "ru"}, follow_redirects=False)
    assert ok.status_code == 303


def _cookies(response: httpx.Response) -> dict[str, str]:
    return {header.split("=", 1)[0]: header for header in response.headers.get_list("set-cookie")}


def test_cookies_are_secure_httponly_and_samesite(client: TestClient) -> None:
    page = client.get("/signin")
    session = _cookies(page)["safepath_session"].lower()
    for flag in ("httponly", "secure", "samesite=lax", "path=/"):
        assert flag in session
    r = client.post(
        "/language",
        data={"csrf_token": csrf_of(page.text), "lang": "ru"},
        follow_redirects=False,
    )
    language = _cookies(r)["safepath_lang"].lower()
    for flag in ("httponly", "secure", "samesite=lax"):
        assert flag in language


def test_every_page_has_a_strict_csp_and_no_script(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    pages = [client.get("/signin"), client.get("/no-such-page")]
    sign_in(client)
    pages += [client.get("/cases"), client.get("/cases/new"), client.get(f"/cases/{CASE_ID}")]
    pages += [client.get(f"/cases/{CASE_ID}/break-glass")]
    for r in pages:
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src" not in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["referrer-policy"] == "no-referrer"
        assert "<script" not in r.text.lower() and " on" + "click=" not in r.text.lower()


def test_the_development_sign_in_is_off_in_production(
    tmp_path: Path, make_client: MakeClient, apis: FakeApis
) -> None:
    client = make_client(production_settings(tmp_path))
    page = client.get("/signin")
    assert "/signin/dev" not in page.text
    r = client.post(
        "/signin/dev",
        data={"csrf_token": csrf_of(page.text), "role": "admin", "sub": "mallory"},
        follow_redirects=False,
    )
    assert r.status_code == 404
    assert "safepath_session" not in _cookies(r) or "admin" not in r.text
    assert client.get("/cases", follow_redirects=False).headers["location"].startswith("/signin")


def test_the_development_sign_in_is_off_when_tokens_come_from_an_issuer(
    tmp_path: Path, make_client: MakeClient
) -> None:
    from shared.settings import Settings

    s = Settings(environment="development", data_dir=tmp_path, jwks_url="https://id.test/jwks")
    page = make_client(s).get("/signin")
    assert "/signin/dev" not in page.text


def test_the_token_never_reaches_the_browser(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    page = client.get("/signin")
    r = client.post(
        "/signin/dev",
        data={"csrf_token": csrf_of(page.text), "role": "caseworker", "sub": "amina"},
        follow_redirects=True,
    )
    token = apis.calls[-1].headers["authorization"].removeprefix("Bearer ")
    assert token and token not in r.text
    for response in [*r.history, r]:
        for header in response.headers.get_list("set-cookie"):
            assert token not in header


def test_the_apis_are_called_with_the_persons_own_token(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/providers/shelter-a/referrals")] = []
    sign_in(client, "provider", sub="dilnoza", provider_id="shelter-a")
    assert client.get("/inbox").status_code == 200
    call = apis.calls[-1]
    assert call.url.path == "/providers/shelter-a/referrals"
    claims = apis.bearer_claims(call)
    assert (claims["sub"], claims["role"], claims["provider_id"]) == (
        "dilnoza",
        "provider",
        "shelter-a",
    )


def test_a_provider_cannot_ask_for_another_providers_inbox(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[("GET", "/providers/shelter-a/referrals")] = []
    sign_in(client, "provider", provider_id="shelter-a")
    # Nothing in the URL or query chooses the provider: only the signed-in token does.
    client.get("/inbox?provider_id=shelter-b")
    client.get("/inbox/../providers/shelter-b/referrals")
    assert all("shelter-b" not in str(c.url) for c in apis.calls)


def test_a_caseworker_cannot_open_the_provider_inbox(client: TestClient, apis: FakeApis) -> None:
    sign_in(client, "caseworker")
    assert client.get("/inbox").status_code == 403
    assert apis.calls == []


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_sign_in_never_sends_you_to_another_site(client: TestClient, target: str) -> None:
    page = client.get("/signin", params={"next": target})
    r = client.post(
        "/signin/dev",
        data={
            "csrf_token": csrf_of(page.text),
            "role": "caseworker",
            "sub": "amina",
            "next": target,
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/cases"


def test_signing_in_gives_a_new_session_id(client: TestClient) -> None:
    before = client.cookies.get("safepath_session") or _cookie_after(client)
    sign_in(client)
    assert client.cookies.get("safepath_session") not in (None, before)


def _cookie_after(client: TestClient) -> str:
    client.get("/signin")
    value = client.cookies.get("safepath_session")
    assert value
    return value


def test_a_session_ends_after_idle_time(client: TestClient, apis: FakeApis, clock: Clock) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    sign_in(client)
    assert client.get("/cases").status_code == 200
    clock.now += timedelta(minutes=WebSettings().session_idle_minutes + 1)
    r = client.get("/cases", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin")


def test_sign_out_ends_the_session_for_good(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    sign_in(client)
    old = client.cookies.get("safepath_session")
    page = client.get("/cases")
    r = client.post("/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    replay = TestClient(client.app, base_url="https://testserver")
    replay.cookies.set("safepath_session", old or "")
    assert replay.get("/cases", follow_redirects=False).headers["location"].startswith("/signin")


def test_an_expired_token_at_the_api_signs_out(client: TestClient, apis: FakeApis) -> None:
    apis.routes[("GET", "/cases")] = lambda req: httpx.Response(
        401, json={"title": "Unauthorized", "status": 401}
    )
    sign_in(client)
    r = client.get("/cases", follow_redirects=False)
    assert r.headers["location"].startswith("/signin")
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    assert client.get("/cases", follow_redirects=False).status_code == 303


def test_error_pages_name_no_input(client: TestClient, apis: FakeApis) -> None:
    """A 422 from the API is shown by error type: the typed value is never echoed."""
    secret_name = "Gulnora-Secret-Name"
    apis.routes[("POST", "/cases")] = lambda req: httpx.Response(
        422,
        json={
            "status": 422,
            "errors": [
                {"path": "body.profile.date_of_birth", "type": "date_from_datetime_parsing",
                 "message": f"Input {secret_name} is not a date"}
            ],
        },
    )  # fmt: skip
    sign_in(client)
    page = client.get("/cases/new")
    r = client.post(
        "/cases/new",
        data={"csrf_token": csrf_of(page.text), "profile.date_of_birth": "31.02"},
    )
    assert r.status_code == 422
    assert secret_name not in r.text
    assert re.search(r'id="err-profile-date_of_birth"', r.text)


def test_cookie_parsing_of_a_forged_session_id_gives_a_fresh_anonymous_session(
    client: TestClient,
) -> None:
    client.cookies.set("safepath_session", "forged")
    r = client.get("/signin")
    jar = SimpleCookie(r.headers["set-cookie"])
    assert jar["safepath_session"].value != "forged"


def test_what_is_typed_into_a_form_is_never_logged(
    client: TestClient, apis: FakeApis, caplog: pytest.LogCaptureFixture
) -> None:
    apis.routes[("POST", "/cases")] = lambda req: httpx.Response(
        422, json={"status": 422, "errors": [{"path": "body.region", "type": "missing"}]}
    )
    sign_in(client)
    page = client.get("/cases/new")
    with caplog.at_level("DEBUG"):
        client.post(
            "/cases/new",
            data={
                "csrf_token": csrf_of(page.text),
                "profile.given_name": "Mehrona-Logged?",
                "profile.address": "Street-Of-Secrets 7",
            },
        )
    assert caplog.records, "the web app's log lines were not captured"
    text = caplog.text
    assert "Mehrona-Logged" not in text and "Street-Of-Secrets" not in text
