"""Production sign-in: OpenID Connect authorization code flow with PKCE (RFC 7636).

``begin`` remembers a fresh ``state``, ``nonce`` and code verifier in the visitor's session
and gives the issuer's authorization URL (challenge ``S256``); ``finish`` checks the
``state`` that comes back, redeems the code with the verifier, and checks the ID token's
signature, issuer, audience and nonce. The access token is what the APIs are then called
with; the web app verifies it exactly as the services do (``shared.auth``), so the
person's role and scope come from the same claims the APIs read.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from services.web.config import WebSettings
from services.web.sessions import Session


class SignInFailed(Exception):
    """The issuer's answer could not be used (the message names no token or secret)."""


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class Oidc:
    def __init__(self, web: WebSettings, redirect_uri: str, client: httpx.AsyncClient) -> None:
        if not web.oidc_issuer or not web.oidc_client_id:
            raise ValueError("OIDC needs SAFEPATH_WEB_OIDC_ISSUER and SAFEPATH_WEB_OIDC_CLIENT_ID")
        self.issuer = web.oidc_issuer.rstrip("/")
        self.client_id = web.oidc_client_id
        self.client_secret = web.oidc_client_secret
        self.scope = web.oidc_scope
        self.redirect_uri = redirect_uri
        self.client = client
        self._metadata: dict[str, Any] | None = None

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None:
            doc = await self._get(self.issuer + "/.well-known/openid-configuration")
            if doc.get("issuer", "").rstrip("/") != self.issuer:
                raise SignInFailed("the discovery document names another issuer")
            self._metadata = doc
        return self._metadata

    async def begin(self, session: Session) -> str:
        meta = await self.metadata()
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        verifier = secrets.token_urlsafe(48)  # 64 characters of [A-Za-z0-9_-]
        session.pending = {"state": state, "nonce": nonce, "verifier": verifier}
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "scope": self.scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": code_challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{meta['authorization_endpoint']}?{query}"

    async def finish(self, session: Session, code: str | None, state: str | None) -> str:
        """The access token for the code, once everything about the answer checks out."""
        pending, session.pending = session.pending, {}
        if not pending or not state or not secrets.compare_digest(state, pending["state"]):
            raise SignInFailed("the state does not match this browser's sign-in")
        if not code:
            raise SignInFailed("the issuer sent no code")
        meta = await self.metadata()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": pending["verifier"],
        }
        if self.client_secret:
            form["client_secret"] = self.client_secret
        try:
            r = await self.client.post(meta["token_endpoint"], data=form)
        except httpx.HTTPError:
            raise SignInFailed("the issuer could not be reached") from None
        if r.status_code != 200:
            raise SignInFailed(f"the issuer refused the code ({r.status_code})")
        tokens = r.json()
        access, id_token = tokens.get("access_token"), tokens.get("id_token")
        if not isinstance(access, str) or not isinstance(id_token, str):
            raise SignInFailed("the issuer's answer lacks a token")
        await self._check_id_token(id_token, pending["nonce"], meta)
        return access

    async def _check_id_token(self, id_token: str, nonce: str, meta: dict[str, Any]) -> None:
        keys = jwt.PyJWKSet.from_dict(await self._get(meta["jwks_uri"]))
        try:
            kid = jwt.get_unverified_header(id_token).get("kid")
            key = next(k for k in keys.keys if kid is None or k.key_id == kid)
            claims = jwt.decode(
                id_token,
                key,
                algorithms=["RS256", "PS256", "ES256", "EdDSA"],
                audience=self.client_id,
                issuer=meta["issuer"],
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except (jwt.PyJWTError, StopIteration):
            raise SignInFailed("the ID token does not verify") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise SignInFailed("the ID token's nonce does not match")

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            r = await self.client.get(url)
        except httpx.HTTPError:
            raise SignInFailed("the issuer could not be reached") from None
        if r.status_code != 200:
            raise SignInFailed(f"the issuer answered {r.status_code}")
        doc = r.json()
        if not isinstance(doc, dict):
            raise SignInFailed("the issuer's answer is not a JSON object")
        return doc
