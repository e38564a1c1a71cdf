"""In-process fixtures for the web app: the app against fake APIs, a signed-in browser."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.web.config import WebSettings
from services.web.main import create_app
from shared.settings import Settings
from tests.web.fakes import FakeApis, csrf_of

BASE = "https://testserver"  # https: the cookies are Secure


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(environment="test", data_dir=tmp_path / "data", log_format="json")


def production_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Everything production demands, freshly generated (nothing published)."""
    return Settings(
        environment="production",
        data_dir=tmp_path / "data",
        jwt_secret=secrets.token_urlsafe(48),
        master_key=base64.b64encode(os.urandom(32)).decode(),
        case_reference_key=secrets.token_urlsafe(48),
        audit_signing_key=base64.b64encode(os.urandom(32)).decode(),
        **overrides,
    )


@pytest.fixture
def apis() -> FakeApis:
    return FakeApis()


@pytest.fixture
def clock() -> Clock:
    return Clock()


MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(settings: Settings, apis: FakeApis, clock: Clock) -> Iterator[MakeClient]:
    opened: list[TestClient] = []

    def make(
        settings_: Settings | None = None,
        web: WebSettings | None = None,
        language: str = "en",
        **kwargs: Any,
    ) -> TestClient:
        app = create_app(
            settings_ or settings,
            web or WebSettings(),
            api_transport=apis.transport,
            clock=clock,
            **kwargs,
        )
        client = TestClient(app, base_url=BASE, headers={"accept-language": language})
        client.__enter__()
        opened.append(client)
        return client

    try:
        yield make
    finally:
        for c in opened:
            c.__exit__(None, None, None)


@pytest.fixture
def client(make_client: MakeClient) -> TestClient:
    return make_client()


def sign_in(client: TestClient, role: str = "caseworker", **claims: str | list[str]) -> None:
    page = client.get("/signin")
    form = {
        "csrf_token": csrf_of(page.text),
        "role": role,
        "sub": claims.pop("sub", f"test-{role}"),
        **claims,
    }
    r = client.post("/signin/dev", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
