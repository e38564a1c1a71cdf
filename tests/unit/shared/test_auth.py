"""Bearer JWT authentication: who may call, and what a refused caller is told."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from shared.auth import (
    AuthConfig,
    AuthError,
    CurrentPrincipal,
    Principal,
    check_secret_strength,
    mint_token,
    require_roles,
    verify_token,
)
from shared.problems import PROBLEM_MEDIA_TYPE, install_problem_handlers
from shared.settings import Settings

SECRET = "a-test-secret-that-is-long-enough-0123456789"
# The JWT secret this repository once published as its development default: public.
PUBLISHED_SECRET = "safepath-development-secret-do-not-use-in-production"
CONFIG = AuthConfig(issuer="safepath-test", audience="safepath", hs256_secret=SECRET)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "safepath-test",
        "aud": "safepath",
        "sub": "dilnoza",
        "role": "caseworker",
        "exp": now + timedelta(minutes=5),
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# -- verify_token -------------------------------------------------------------------------


def test_a_valid_token_names_the_principal() -> None:
    token = mint_token(CONFIG, "dilnoza", "caseworker", region="khatlon", office="bokhtar-1")

    assert verify_token(token, CONFIG) == Principal(
        sub="dilnoza", role="caseworker", region="khatlon", office="bokhtar-1"
    )


def test_an_expired_token_is_refused() -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    token = mint_token(CONFIG, "dilnoza", "caseworker", ttl_seconds=60, now=long_ago)

    with pytest.raises(AuthError, match="expired"):
        verify_token(token, CONFIG)


def test_a_token_within_the_leeway_is_still_accepted() -> None:
    just_now = datetime.now(UTC) - timedelta(seconds=70)
    token = mint_token(CONFIG, "dilnoza", "caseworker", ttl_seconds=60, now=just_now)

    assert verify_token(token, CONFIG).sub == "dilnoza"


@pytest.mark.parametrize(
    "other",
    [
        AuthConfig(issuer="someone-else", audience="safepath", hs256_secret=SECRET),
        AuthConfig(issuer="safepath-test", audience="another-app", hs256_secret=SECRET),
    ],
    ids=["wrong issuer", "wrong audience"],
)
def test_a_token_for_another_issuer_or_audience_is_refused(other: AuthConfig) -> None:
    token = mint_token(other, "dilnoza", "caseworker")

    with pytest.raises(AuthError, match="not issued for this service"):
        verify_token(token, CONFIG)


def test_a_token_signed_with_another_secret_is_refused() -> None:
    forger = AuthConfig(issuer="safepath-test", audience="safepath", hs256_secret="x" * 40)
    token = mint_token(forger, "dilnoza", "admin")

    with pytest.raises(AuthError, match="invalid"):
        verify_token(token, CONFIG)


def test_an_unsigned_alg_none_token_is_refused() -> None:
    claims = _claims(exp=int((datetime.now(UTC) + timedelta(minutes=5)).timestamp()))
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."

    with pytest.raises(AuthError, match="invalid"):
        verify_token(token, CONFIG)


def test_a_token_without_expiry_is_refused() -> None:
    token = jwt.encode(_claims(exp=None), SECRET, algorithm="HS256")

    with pytest.raises(AuthError, match="'exp'"):
        verify_token(token, CONFIG)


def test_a_provider_token_without_provider_id_is_refused() -> None:
    token = jwt.encode(_claims(role="provider"), SECRET, algorithm="HS256")

    with pytest.raises(AuthError, match="provider_id"):
        verify_token(token, CONFIG)


def test_a_provider_token_with_provider_id_is_accepted() -> None:
    token = mint_token(CONFIG, "svc-bot", "provider", provider_id="prov-ngo-42")

    assert verify_token(token, CONFIG).provider_id == "prov-ngo-42"


def test_a_coordinator_token_names_what_it_coordinates() -> None:
    token = mint_token(CONFIG, "nmac-officer", "coordinator", categories=["mine_eo"])

    assert verify_token(token, CONFIG).categories == ("mine_eo",)
    # Without the claim it is bound to nothing (it acts on no referral).
    plain = mint_token(CONFIG, "statistics-reader", "coordinator")
    assert verify_token(plain, CONFIG).categories == ()


@pytest.mark.parametrize(
    "categories",
    [["mine_eo", "everything"], "mine_eo", [["mine_eo"]], [1], {"mine_eo": True}],
)
def test_a_forged_or_malformed_categories_claim_is_refused(categories: Any) -> None:
    token = jwt.encode(
        _claims(role="coordinator", categories=categories), SECRET, algorithm="HS256"
    )

    with pytest.raises(AuthError, match="categor") as raised:
        verify_token(token, CONFIG)
    assert "everything" not in str(raised.value)  # the value is never echoed


def test_categories_bind_only_a_coordinator() -> None:
    """On another role the claim is dropped: it can never widen (or mean) anything."""
    token = jwt.encode(
        _claims(role="caseworker", categories=["trafficking"]), SECRET, algorithm="HS256"
    )

    assert verify_token(token, CONFIG).categories == ()


def test_a_principal_read_back_from_json_keeps_its_categories_hashable() -> None:
    p = Principal(sub="x", role="coordinator", categories=["trafficking"])  # type: ignore[arg-type]

    assert p.categories == ("trafficking",) and hash(p)


def test_an_unknown_role_is_refused() -> None:
    token = jwt.encode(_claims(role="superuser"), SECRET, algorithm="HS256")

    with pytest.raises(AuthError, match="role"):
        verify_token(token, CONFIG)


def test_minting_refuses_what_verification_would_refuse() -> None:
    with pytest.raises(AuthError):
        mint_token(CONFIG, "svc-bot", "provider")


def test_the_error_message_never_contains_the_token() -> None:
    token = mint_token(CONFIG, "dilnoza", "caseworker") + "tampered"

    with pytest.raises(AuthError) as caught:
        verify_token(token, CONFIG)
    assert token not in str(caught.value)
    assert "tampered" not in str(caught.value)


# -- a token verified before (shared.auth keeps HS256 successes) ---------------------------


class _Later(datetime):
    """``datetime`` whose ``now`` is ``_Later.shift`` ahead (or behind) of the real one."""

    shift = timedelta(0)

    @classmethod
    def now(cls, tz: Any = None) -> Any:
        return datetime.now(tz) + cls.shift


def _at(monkeypatch: pytest.MonkeyPatch, shift: timedelta) -> None:
    monkeypatch.setattr(_Later, "shift", shift)
    monkeypatch.setattr(jwt.api_jwt, "datetime", _Later)
    monkeypatch.setattr("shared.auth.datetime", _Later)


def test_a_token_verified_before_is_refused_once_it_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = mint_token(CONFIG, "dilnoza", "caseworker", ttl_seconds=300)
    assert verify_token(token, CONFIG).sub == "dilnoza"
    assert verify_token(token, CONFIG).sub == "dilnoza"  # kept: not decoded again

    _at(monkeypatch, timedelta(seconds=300 + CONFIG.leeway_seconds - 5))
    assert verify_token(token, CONFIG).sub == "dilnoza"  # within the leeway, as decode
    _at(monkeypatch, timedelta(seconds=300 + CONFIG.leeway_seconds + 1))
    with pytest.raises(AuthError, match="expired"):
        verify_token(token, CONFIG)


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_a_token_verified_before_is_refused_when_the_clock_is_before_it(
    monkeypatch: pytest.MonkeyPatch, claim: str
) -> None:
    now = datetime.now(UTC)
    token = jwt.encode(_claims(**{claim: now, "sub": f"early-{claim}"}), SECRET, algorithm="HS256")
    assert verify_token(token, CONFIG).sub == f"early-{claim}"

    # A clock set back: decode would refuse it as not yet valid, and so does the cache.
    _at(monkeypatch, -timedelta(seconds=CONFIG.leeway_seconds + 60))
    with pytest.raises(AuthError, match="invalid"):
        verify_token(token, CONFIG)
    monkeypatch.setattr("shared.auth._verified", {})
    with pytest.raises(AuthError, match="invalid"):
        verify_token(token, CONFIG)  # the same answer from jwt.decode itself


def test_a_token_verified_under_one_secret_is_refused_under_another() -> None:
    token = mint_token(CONFIG, "dilnoza", "caseworker")
    assert verify_token(token, CONFIG).sub == "dilnoza"
    other = AuthConfig(
        issuer=CONFIG.issuer, audience=CONFIG.audience, hs256_secret=SECRET + "-rotated"
    )
    with pytest.raises(AuthError, match="invalid"):
        verify_token(token, other)


def test_refused_tokens_and_the_tokens_themselves_are_not_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from shared import auth

    monkeypatch.setattr(auth, "_verified", {})
    token = mint_token(CONFIG, "dilnoza", "caseworker")
    for _ in range(2):
        with pytest.raises(AuthError):
            verify_token(token + "x", CONFIG)
    assert auth._verified == {}

    verify_token(token, CONFIG)
    assert len(auth._verified) == 1
    assert token not in repr(auth._verified)
    assert SECRET not in repr(list(auth._verified.values()))


def test_the_kept_tokens_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import auth

    monkeypatch.setattr(auth, "_verified", {})
    monkeypatch.setattr(auth, "_VERIFIED_MAX", 3)
    tokens = [mint_token(CONFIG, f"worker-{i}", "caseworker") for i in range(5)]
    for t in tokens:
        verify_token(t, CONFIG)
    assert len(auth._verified) == 3
    assert [p.sub for p, *_ in auth._verified.values()] == ["worker-2", "worker-3", "worker-4"]


# -- JWKS ---------------------------------------------------------------------------------

ISSUER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
JWKS_CONFIG = AuthConfig(
    issuer="https://id.example.tj/realms/nrm",
    audience="safepath",
    jwks_url="https://id.example.tj/realms/nrm/certs",
)


class FakeJWKClient:
    """Stands in for ``jwt.PyJWKClient``: the issuer's key set, without the network."""

    def __init__(self, public_key: Any) -> None:
        self.public_key = public_key
        self.asked = 0

    def get_signing_key_from_jwt(self, token: str) -> Any:
        self.asked += 1
        return SimpleNamespace(key=self.public_key)


def _issuer_token(private_key: Any = ISSUER_KEY, **overrides: Any) -> str:
    claims = _claims(iss=JWKS_CONFIG.issuer, **overrides)
    return jwt.encode(claims, private_key, algorithm="RS256", headers={"kid": "k1"})


def test_a_token_signed_by_the_oidc_issuer_is_verified_with_its_jwks() -> None:
    client = FakeJWKClient(ISSUER_KEY.public_key())

    principal = verify_token(_issuer_token(role="supervisor"), JWKS_CONFIG, client)

    assert principal.role == "supervisor"
    assert client.asked == 1


def test_a_jwks_token_is_verified_again_on_every_use() -> None:
    # Not kept like an HS256 token: the issuer's keys may change under it.
    client = FakeJWKClient(ISSUER_KEY.public_key())
    token = _issuer_token(role="supervisor")

    verify_token(token, JWKS_CONFIG, client)
    verify_token(token, JWKS_CONFIG, client)

    assert client.asked == 2


def test_a_token_signed_by_another_rsa_key_is_refused() -> None:
    intruder = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = FakeJWKClient(ISSUER_KEY.public_key())

    with pytest.raises(AuthError, match="invalid"):
        verify_token(_issuer_token(intruder), JWKS_CONFIG, client)


def test_an_hs256_token_is_refused_when_jwks_is_configured() -> None:
    # Algorithm confusion: an HS256 token "signed" with the issuer's public key.
    public_pem = ISSUER_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = _claims(iss=JWKS_CONFIG.issuer, role="admin")
    claims["exp"] = int(claims["exp"].timestamp())
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT'})}.{_b64(claims)}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"

    with pytest.raises(AuthError, match="invalid"):
        verify_token(forged, JWKS_CONFIG, FakeJWKClient(public_pem))


def test_minting_is_refused_for_a_jwks_configuration() -> None:
    with pytest.raises(ValueError, match="HS256"):
        mint_token(JWKS_CONFIG, "dilnoza", "caseworker")


# -- secrets ------------------------------------------------------------------------------


def test_the_development_secret_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="published development JWT secret") as e:
        check_secret_strength(PUBLISHED_SECRET, "production")
    assert PUBLISHED_SECRET not in str(e.value)


def test_a_short_secret_is_refused_in_production() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        check_secret_strength("short", "production")


def test_secrets_are_not_policed_in_development() -> None:
    check_secret_strength("short", "development")
    check_secret_strength(SECRET, "production")


def test_settings_in_production_with_a_published_or_no_secret_give_no_auth_config() -> None:
    for secret in (PUBLISHED_SECRET, ""):
        settings = Settings(environment="production", jwt_secret=secret)

        with pytest.raises(ValueError):
            AuthConfig.from_settings(settings)


def test_settings_with_a_jwks_url_verify_by_jwks_only() -> None:
    settings = Settings(environment="production", jwks_url="https://id.example.tj/certs")

    config = AuthConfig.from_settings(settings)

    assert config.uses_jwks and config.hs256_secret is None


# -- FastAPI ------------------------------------------------------------------------------


def _app(config: AuthConfig = CONFIG, jwks_client: Any = None) -> FastAPI:
    app = FastAPI()
    app.state.auth = config
    if jwks_client is not None:
        app.state.auth_jwks_client = jwks_client
    install_problem_handlers(app)

    @app.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str | None]:
        return {"sub": principal.sub, "role": principal.role}

    @app.post("/offices", dependencies=[Depends(require_roles("admin"))])
    async def create_office() -> dict[str, bool]:
        return {"created": True}

    return app


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_request_without_a_token_gets_401_problem_with_a_bearer_challenge() -> None:
    response = TestClient(_app()).get("/me")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["status"] == 401


def test_a_request_with_a_basic_credential_gets_401() -> None:
    response = TestClient(_app()).get("/me", headers={"Authorization": "Basic ZGlsbm96YTpwdw=="})

    assert response.status_code == 401


def test_an_expired_token_gets_401_invalid_token_without_echoing_it() -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    token = mint_token(CONFIG, "dilnoza", "caseworker", ttl_seconds=60, now=long_ago)

    response = TestClient(_app()).get("/me", headers=_bearer(token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert "expired" in response.json()["detail"]
    assert token not in response.text


def test_a_valid_token_reaches_the_route() -> None:
    token = mint_token(CONFIG, "dilnoza", "caseworker")

    response = TestClient(_app()).get("/me", headers=_bearer(token))

    assert response.status_code == 200
    assert response.json() == {"sub": "dilnoza", "role": "caseworker"}


def test_a_role_that_may_not_act_gets_403_problem() -> None:
    token = mint_token(CONFIG, "dilnoza", "caseworker")

    response = TestClient(_app()).post("/offices", headers=_bearer(token))

    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE


def test_the_allowed_role_passes_require_roles() -> None:
    token = mint_token(CONFIG, "root", "admin")

    response = TestClient(_app()).post("/offices", headers=_bearer(token))

    assert response.status_code == 200


def test_require_roles_refuses_unknown_role_names() -> None:
    with pytest.raises(ValueError):
        require_roles("caseworker", "janitor")


def test_the_app_verifies_oidc_tokens_with_the_jwks_client_in_app_state() -> None:
    app = _app(JWKS_CONFIG, FakeJWKClient(ISSUER_KEY.public_key()))

    response = TestClient(app).get("/me", headers=_bearer(_issuer_token(role="auditor")))

    assert response.status_code == 200
    assert response.json()["role"] == "auditor"


def test_openapi_documents_the_bearer_security_scheme() -> None:
    doc = TestClient(_app()).get("/openapi.json").json()

    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"],
    }
    assert doc["paths"]["/me"]["get"]["security"] == [{"bearerAuth": []}]
