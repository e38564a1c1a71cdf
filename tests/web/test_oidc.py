"""Production sign-in against a fake OIDC issuer: authorization code with PKCE, and
what the web app refuses (a state from elsewhere, a code used twice, a wrong nonce)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient

from services.web.config import WebSettings
from services.web.oidc import code_challenge
from shared.settings import Settings
from tests.web.conftest import MakeClient
from tests.web.fakes import FakeApis, FakeIssuer, FakeKeySource

CLIENT_ID = "safepath-web"


@pytest.fixture
def issuer_settings(tmp_path: Path) -> Settings:
    return Settings(
        environment="test", data_dir=tmp_path / "data", jwks_url=FakeIssuer.url + "/jwks"
    )


@pytest.fixture
def issuer(issuer_settings: Settings) -> FakeIssuer:
    return FakeIssuer(
        issuer_settings,
        CLIENT_ID,
        {"sub": "farrukh", "role": "provider", "provider_id": "shelter-a"},
    )


@pytest.fixture
def oidc_client(
    make_client: MakeClient, issuer_settings: Settings, issuer: FakeIssuer
) -> TestClient:
    web = WebSettings(
        oidc_issuer=issuer.url,
        oidc_client_id=CLIENT_ID,
        public_url="https://testserver",
    )
    return make_client(
        issuer_settings,
        web,
        oidc_transport=issuer.transport,
        jwks_client=FakeKeySource(issuer),
    )


def _authorize(client: TestClient, issuer: FakeIssuer) -> str:
    """Start signing in; let the issuer approve; the callback URL it sends back."""
    start = client.get("/signin/oidc", follow_redirects=False)
    assert start.status_code == 303
    location = start.headers["location"]
    assert location.startswith(issuer.url + "/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["redirect_uri"] == ["https://testserver/signin/callback"]
    with TestClient(issuer.app, base_url=issuer.url) as idp:
        approved = idp.get(location.removeprefix(issuer.url), follow_redirects=False)
    callback: str = approved.headers["location"]
    return callback.removeprefix("https://testserver")


def test_rfc7636_example_challenge() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"  # RFC 7636, appendix B
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_sign_in_with_the_issuer_and_pkce(
    oidc_client: TestClient, issuer: FakeIssuer, apis: FakeApis
) -> None:
    apis.routes[("GET", "/providers/shelter-a/referrals")] = []
    page = oidc_client.get("/signin")
    assert "/signin/oidc" in page.text and "/signin/dev" not in page.text

    r = oidc_client.get(_authorize(oidc_client, issuer), follow_redirects=False)

    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    assert oidc_client.get("/inbox").status_code == 200
    claims = apis.bearer_claims(apis.calls[-1])
    assert (claims["sub"], claims["provider_id"]) == ("farrukh", "shelter-a")


def test_a_callback_with_another_state_is_refused(
    oidc_client: TestClient, issuer: FakeIssuer
) -> None:
    callback = _authorize(oidc_client, issuer)
    forged = callback.replace("state=", "state=x")
    r = oidc_client.get(forged, follow_redirects=False)
    assert r.status_code == 403
    assert oidc_client.get("/inbox", follow_redirects=False).status_code == 303


def test_a_callback_in_another_browser_is_refused(
    oidc_client: TestClient, issuer: FakeIssuer, make_client: MakeClient
) -> None:
    """Login CSRF: an attacker's own code, pushed to a victim's browser, does not sign the
    victim in (the state belongs to the attacker's session)."""
    callback = _authorize(oidc_client, issuer)
    victim = TestClient(oidc_client.app, base_url="https://testserver")
    victim.get("/signin")
    assert victim.get(callback, follow_redirects=False).status_code == 403


def test_a_code_works_once(oidc_client: TestClient, issuer: FakeIssuer) -> None:
    callback = _authorize(oidc_client, issuer)
    assert oidc_client.get(callback, follow_redirects=False).status_code == 303
    assert oidc_client.get(callback, follow_redirects=False).status_code == 403


def test_an_id_token_with_another_nonce_is_refused(
    oidc_client: TestClient, issuer: FakeIssuer
) -> None:
    issuer.nonce_override = "replayed-nonce"
    r = oidc_client.get(_authorize(oidc_client, issuer), follow_redirects=False)
    assert r.status_code == 403


def test_an_unreachable_issuer_is_a_clear_error(
    make_client: MakeClient, issuer_settings: Settings, issuer: FakeIssuer
) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("down")

    web = WebSettings(oidc_issuer=issuer.url, oidc_client_id=CLIENT_ID)
    client = make_client(issuer_settings, web, oidc_transport=httpx.MockTransport(down))
    assert client.get("/signin/oidc", follow_redirects=False).status_code == 502
