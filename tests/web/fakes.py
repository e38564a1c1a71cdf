"""Fakes for the web app's tests: the three APIs (recording every call) and an OIDC
issuer that checks PKCE the way a real one does."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Form, HTTPException
from fastapi.responses import RedirectResponse

from shared.settings import Settings

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "the page has no CSRF field"
    return m.group(1)


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeApis:
    """Answers the web app's API calls with ``routes[(method, path)]`` (404 otherwise)
    and keeps every request."""

    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    calls: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls.append(request)
        answer = self.routes.get((request.method, request.url.path))
        if answer is None:
            return httpx.Response(404, json={"title": "Not Found", "status": 404})
        if callable(answer):
            result: httpx.Response = answer(request)
            return result
        return httpx.Response(200, json=answer)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def bearer_claims(self, request: httpx.Request) -> dict[str, Any]:
        token = request.headers["authorization"].removeprefix("Bearer ")
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims


class FakeIssuer:
    """An OIDC issuer at ``https://id.example.test``: discovery, authorize (approves at
    once), token (checks the code verifier against the challenge), JWKS."""

    url = "https://id.example.test"

    def __init__(self, settings: Settings, client_id: str, claims: dict[str, Any]) -> None:
        self.settings = settings
        self.client_id = client_id
        self.claims = claims
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "k1"
        self.codes: dict[str, dict[str, str]] = {}
        self.nonce_override: str | None = None
        self.app = self._app()

    @property
    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app)

    def public_jwk(self) -> jwt.PyJWK:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return jwt.PyJWK({**jwk, "kid": self.kid, "alg": "RS256", "use": "sig"})

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})

    def _app(self) -> FastAPI:
        app = FastAPI()
        issuer = self

        @app.get("/.well-known/openid-configuration")
        async def discovery() -> dict[str, str]:
            return {
                "issuer": issuer.url,
                "authorization_endpoint": issuer.url + "/authorize",
                "token_endpoint": issuer.url + "/token",
                "jwks_uri": issuer.url + "/jwks",
            }

        @app.get("/authorize")
        async def authorize(
            client_id: str,
            redirect_uri: str,
            state: str,
            nonce: str,
            code_challenge: str,
            code_challenge_method: str,
            response_type: str,
        ) -> RedirectResponse:
            assert response_type == "code" and code_challenge_method == "S256"
            code = secrets.token_urlsafe(16)
            issuer.codes[code] = {
                "challenge": code_challenge,
                "nonce": nonce,
                "client_id": client_id,
                "redirect_uri": redirect_uri,
            }
            return RedirectResponse(
                f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302
            )

        @app.post("/token")
        async def token(
            grant_type: str = Form(),
            code: str = Form(),
            redirect_uri: str = Form(),
            client_id: str = Form(),
            code_verifier: str = Form(),
        ) -> dict[str, Any]:
            grant = issuer.codes.pop(code, None)  # a code works once
            if grant is None or grant["redirect_uri"] != redirect_uri:
                raise HTTPException(400, "invalid_grant")
            digest = hashlib.sha256(code_verifier.encode()).digest()
            if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
                raise HTTPException(400, "invalid_grant: PKCE")
            now = datetime.now(UTC)
            access = issuer.sign(
                {
                    "iss": issuer.settings.jwt_issuer,
                    "aud": issuer.settings.jwt_audience,
                    "exp": now + timedelta(minutes=30),
                    **issuer.claims,
                }
            )
            id_token = issuer.sign(
                {
                    "iss": issuer.url,
                    "aud": client_id,
                    "sub": issuer.claims["sub"],
                    "exp": now + timedelta(minutes=30),
                    "nonce": issuer.nonce_override or grant["nonce"],
                }
            )
            return {"access_token": access, "id_token": id_token, "token_type": "Bearer"}

        @app.get("/jwks")
        async def jwks() -> dict[str, Any]:
            jwk = jwt.algorithms.RSAAlgorithm.to_jwk(issuer.key.public_key(), as_dict=True)
            return {"keys": [{**jwk, "kid": issuer.kid, "alg": "RS256", "use": "sig"}]}

        return app


class FakeKeySource:
    """The issuer's signing key for ``shared.auth`` (in place of ``jwt.PyJWKClient``)."""

    def __init__(self, issuer: FakeIssuer) -> None:
        self.issuer = issuer

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        return self.issuer.public_jwk()
