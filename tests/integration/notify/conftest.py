"""The notify service against this test's database and namespace, a webhook receiver,
tokens, and the provider's NATS subject."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.notify.config import NotifySettings
from services.notify.main import create_app
from shared.auth import AuthConfig, mint_token
from shared.settings import Settings
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import publish_directory

Token = Callable[..., dict[str, str]]


@pytest.fixture
def settings(service_settings: Callable[..., Settings]) -> Settings:
    return service_settings("notify")


@pytest.fixture
def notify_settings() -> NotifySettings:
    """Fast retries: three attempts, 0.2 s apart. The test receivers listen on 127.0.0.1,
    which only the allow-list lets notify call."""
    return NotifySettings(
        backoff_seconds=[0.2, 0.2],
        webhook_timeout_seconds=2.0,
        nats_timeout_seconds=2.0,
        webhook_allow_hosts="127.0.0.1",
    )


@pytest.fixture
async def app(
    settings: Settings, notify_settings: NotifySettings, js: JetStreamContext
) -> AsyncIterator[FastAPI]:
    """Notify, after the referral service published its directory (as it does on start)."""
    application = create_app(settings, notify_settings)
    async with application.router.lifespan_context(application):
        await publish_directory(js, settings.namespace)
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
def auth(settings: Settings) -> Token:
    """``auth("provider", provider_id="x")`` → an Authorization header."""
    config = AuthConfig.from_settings(settings)

    def make(role: str = "admin", sub: str | None = None, **claims: Any) -> dict[str, str]:
        token = mint_token(config, sub or f"{role}-1", role, **claims)
        return {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()
