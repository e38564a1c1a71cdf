"""Sessions in the web app's own Postgres table (``SAFEPATH_WEB_SESSION_STORE=postgres``),
against the real Postgres of the suite: a session outlives a restart and is served by
any replica; the table holds neither a usable cookie nor the token; sign-out and idle
time end it everywhere; a box under another key is no session; no key, no start."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest
from fastapi.testclient import TestClient

from services.web.config import WebSettings
from services.web.main import create_app
from shared.settings import Settings
from tests.web.conftest import BASE, Clock, MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

COOKIE = "safepath_session"


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def pg_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        environment="test", data_dir=tmp_path / "data", log_format="json", database_url=database_url
    )


@pytest.fixture
def web() -> WebSettings:
    return WebSettings(session_store="postgres", session_key=key())


def rows(database_url: str) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        conn = await asyncpg.connect(database_url)
        try:
            return [
                dict(r) for r in await conn.fetch("SELECT *, box::text AS box FROM web.session")
            ]
        finally:
            await conn.close()

    return asyncio.run(read())


def replica(
    make_client: MakeClient, settings: Settings, web: WebSettings, cookie: str
) -> TestClient:
    client = make_client(settings, web)
    client.cookies.set(COOKIE, cookie)
    return client


def test_a_session_outlives_a_restart_and_any_replica_serves_it(
    make_client: MakeClient, apis: FakeApis, pg_settings: Settings, web: WebSettings
) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    first = make_client(pg_settings, web)
    sign_in(first, "caseworker", sub="amina", region="sughd", office="khujand")
    page = first.get("/cases")
    first.post("/language", data={"csrf_token": csrf_of(page.text), "lang": "ru"})
    cookie = first.cookies.get(COOKIE)
    assert cookie

    other = replica(make_client, pg_settings, web, cookie)  # a restart, or another replica
    answer = other.get("/cases", follow_redirects=False)
    assert answer.status_code == 200
    assert 'lang="ru"' in answer.text  # the language chosen on the first one
    claims = apis.bearer_claims(apis.calls[-1])
    assert (claims["sub"], claims["office"]) == ("amina", "khujand")
    # its CSRF token came along too: a form from the first one is accepted by the other
    r = other.post("/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303


def test_the_table_holds_no_usable_cookie_and_no_token(
    make_client: MakeClient, apis: FakeApis, pg_settings: Settings, web: WebSettings
) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    client = make_client(pg_settings, web)
    sign_in(client, "caseworker", sub="amina-secret-sub", region="sughd", office="khujand")
    client.get("/cases")
    token = apis.calls[-1].headers["authorization"].removeprefix("Bearer ")
    cookie = client.cookies.get(COOKIE)
    assert cookie
    stored = rows(pg_settings.database_url or "")
    assert stored
    everything = repr(stored)
    for secret in (token, cookie, "amina-secret-sub", token.split(".")[1]):
        assert secret not in everything
    assert {str(r["language"]) for r in stored} <= {"tg", "ru", "en"}


def test_sign_out_and_idle_time_end_the_session_on_every_replica(
    make_client: MakeClient,
    apis: FakeApis,
    pg_settings: Settings,
    web: WebSettings,
    clock: Clock,
) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    one = make_client(pg_settings, web)
    sign_in(one)
    cookie = one.cookies.get(COOKIE) or ""
    page = one.get("/cases")
    one.post("/signout", data={"csrf_token": csrf_of(page.text)})
    two = replica(make_client, pg_settings, web, cookie)
    assert two.get("/cases", follow_redirects=False).headers["location"].startswith("/signin")

    sign_in(one)
    cookie = one.cookies.get(COOKIE) or ""
    clock.now += timedelta(minutes=web.session_idle_minutes + 1)
    three = replica(make_client, pg_settings, web, cookie)
    assert three.get("/cases", follow_redirects=False).headers["location"].startswith("/signin")
    hashes = [bytes(r["id_hash"]) for r in rows(pg_settings.database_url or "")]  # type: ignore[call-overload]
    assert hashlib.sha256(cookie.encode()).digest() not in hashes  # the expired row is gone


def test_a_box_under_another_key_is_no_session(
    make_client: MakeClient, apis: FakeApis, pg_settings: Settings, web: WebSettings
) -> None:
    apis.routes[("GET", "/cases")] = {"items": [], "next_cursor": None}
    one = make_client(pg_settings, web)
    sign_in(one)
    cookie = one.cookies.get(COOKIE) or ""
    stranger = WebSettings(session_store="postgres", session_key=key())
    other = replica(make_client, pg_settings, stranger, cookie)
    assert other.get("/cases", follow_redirects=False).headers["location"].startswith("/signin")
    # ... and the replica with the right key still serves it: nobody was signed out
    assert one.get("/cases", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("bad", [None, "", "c2hvcnQ=", "not base64!"])
def test_no_session_key_no_start(pg_settings: Settings, bad: str | None) -> None:
    with pytest.raises(ValueError, match="SAFEPATH_WEB_SESSION_KEY"):
        create_app(pg_settings, WebSettings(session_store="postgres", session_key=bad))


def test_the_memory_store_stays_the_default(tmp_path: Path) -> None:
    app = create_app(Settings(environment="test", data_dir=tmp_path / "d"), WebSettings())
    with TestClient(app, base_url=BASE):
        assert type(app.state.sessions).__name__ == "SessionStore"
