"""The web app's own settings (``SAFEPATH_WEB_*``); shared ones stay in ``shared.settings``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Settings


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEPATH_WEB_", extra="ignore")

    port: int = 8003
    # The three APIs; unset: http://<SAFEPATH_HOST>:<SAFEPATH_*_PORT>.
    case_url: str | None = None
    referral_url: str | None = None
    notify_url: str | None = None
    # Where people reach the web app (the OIDC redirect URI is built from it).
    public_url: str | None = None
    # A session ends after this long without a request, and never outlives its token.
    session_idle_minutes: float = Field(default=30.0, gt=0)
    max_sessions: int = Field(default=10_000, ge=10)
    # Cookies are always HttpOnly and SameSite=Lax; Secure unless turned off here (only for
    # a browser that refuses Secure cookies on plain http: browsers allow them on localhost).
    cookie_secure: bool = True
    # OIDC authorization code flow with PKCE (production sign-in).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scope: str = "openid"
    # The development sign-in page (pick a role, office, provider): only in development and
    # test, and only with the shared HS256 secret; never in production.
    dev_sign_in: bool = True
    api_timeout_seconds: float = Field(default=15.0, gt=0)
    # Where sessions live: this process's memory, or the web app's own Postgres table
    # (SAFEPATH_DATABASE_URL; tokens sealed with session_key, base64 of 32 random bytes).
    session_store: Literal["memory", "postgres"] = "memory"
    session_key: str | None = None

    def api_url(self, settings: Settings, service: str) -> str:
        given: str | None = getattr(self, f"{service}_url")
        if given:
            return given.rstrip("/")
        return f"http://{settings.host}:{getattr(settings, f'{service}_port')}"

    def base_url(self, settings: Settings) -> str:
        return (self.public_url or f"http://{settings.host}:{self.port}").rstrip("/")

    def dev_sign_in_enabled(self, settings: Settings) -> bool:
        return (
            self.dev_sign_in
            and settings.environment in ("development", "test")
            and not settings.jwks_url
            and bool(settings.jwt_secret)
        )

    @property
    def oidc_configured(self) -> bool:
        return bool(self.oidc_issuer and self.oidc_client_id)
