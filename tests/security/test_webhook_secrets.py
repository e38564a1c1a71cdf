"""Webhook signing secrets are shown once and kept only encrypted under the master key.

Nothing in the notify schema (the webhook table, the stored Idempotency-Key responses,
the events) holds a secret in clear; a retried registration does not show it again; a
delivery is still signed with it; a secret stored in clear by an older version is
encrypted when the service starts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from standardwebhooks import Webhook

from services.notify.app.webhooks import generate_secret
from services.notify.config import NotifySettings
from services.notify.main import create_app
from shared.auth import AuthConfig, mint_token
from shared.settings import Settings
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import (
    PROVIDER,
    envelope,
    eventually,
    publish,
    publish_directory,
    routed,
)

Token = Callable[..., dict[str, str]]
PREFIX = "whsec_"


@pytest.fixture
def token(settings: Settings) -> Token:
    config = AuthConfig.from_settings(settings)

    def make(role: str, sub: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(config, sub or role, role, **claims)}"}

    return make


@asynccontextmanager
async def notify(
    settings: Settings, js: JetStreamContext | None = None
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The notify service with ``settings`` (``service_settings("notify")``); with ``js``
    (the setup identity), after the referral service's directory events."""
    app = create_app(
        settings,
        NotifySettings(
            backoff_seconds=[0.2, 0.2],
            webhook_timeout_seconds=2.0,
            nats_timeout_seconds=2.0,
            webhook_allow_hosts="127.0.0.1",  # the test's receiver (http, loopback)
        ),
    )
    async with app.router.lifespan_context(app):
        if js is not None:
            await publish_directory(js, settings.namespace)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield app, c


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = await Receiver().start()
    yield r
    await r.stop()


async def everything_stored(pool: asyncpg.Pool) -> str:
    """Every row of every table of the notify schema, as text."""
    tables = await pool.fetch(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'notify' AND table_type = 'BASE TABLE' ORDER BY table_name"
    )
    assert {"webhook", "idempotency_key", "event"} <= {t["table_name"] for t in tables}
    parts: list[str] = []
    for t in tables:
        name = t["table_name"].replace('"', '""')
        rows = await pool.fetch(f'SELECT row_to_json(x)::text AS r FROM notify."{name}" x')
        parts.extend(r["r"] for r in rows)
    # bytea columns come out hex-encoded; decode them too, in case one holds the secret
    for r in await pool.fetch("SELECT * FROM notify.webhook"):
        parts.extend(bytes(v).decode("latin-1") for v in r.values() if isinstance(v, bytes))
    return "\n".join(parts)


def assert_not_stored(stored: str, *secrets: str) -> None:
    assert PREFIX not in stored
    for secret in secrets:
        assert secret.removeprefix(PREFIX) not in stored


async def deliveries(receiver: Receiver) -> int:
    return len(receiver.received)


async def test_secrets_are_shown_once_and_stored_only_encrypted(
    service_settings: Callable[..., Settings],
    pool: asyncpg.Pool,
    token: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
) -> None:
    own = token("provider", sub="ngo-portal", provider_id=PROVIDER)
    path = f"/providers/{PROVIDER}/webhook"
    async with notify(service_settings("notify"), js) as (_, client):
        keyed = {**own, "Idempotency-Key": "hook-1"}
        first = await client.put(path, json={"url": receiver.url}, headers=keyed)
        assert first.status_code == 201, first.text
        secret = first.json()["secret"]
        assert secret.startswith(PREFIX)

        # A retry with the same key answers as before, without the secret.
        again = await client.put(path, json={"url": receiver.url}, headers=keyed)
        assert again.status_code == 201
        assert again.json()["secret"] is None and PREFIX not in again.text
        assert {k: v for k, v in again.json().items() if k != "secret"} == {
            k: v for k, v in first.json().items() if k != "secret"
        }

        rotated_keyed = {**own, "Idempotency-Key": "hook-2"}
        rotated = await client.put(
            path, json={"url": receiver.url, "rotate": True}, headers=rotated_keyed
        )
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["secret"]
        assert new_secret.startswith(PREFIX) and new_secret != secret
        replayed = await client.put(
            path, json={"url": receiver.url, "rotate": True}, headers=rotated_keyed
        )
        assert replayed.status_code == 200 and replayed.json()["secret"] is None

        # Deliveries are still signed, with both secrets during the overlap.
        event = routed()
        await publish(js, namespace, envelope(event, event.referral_id))
        await eventually(lambda: deliveries(receiver), lambda n: n >= 1)
        got = receiver.received[0]
        Webhook(secret).verify(got.body, got.headers)
        Webhook(new_secret).verify(got.body, got.headers)

        stored = await everything_stored(pool)
        assert_not_stored(stored, secret, new_secret)
        assert await pool.fetchval("SELECT count(*) FROM notify.idempotency_key") == 2
        assert await pool.fetchval("SELECT count(*) FROM notify.event") > 0


async def test_a_secret_stored_in_clear_before_is_encrypted_at_start_up(
    service_settings: Callable[..., Settings],
    pool: asyncpg.Pool,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
) -> None:
    legacy = generate_secret()
    # The row as the first version of the service wrote it.
    await pool.execute(
        "INSERT INTO notify.webhook (provider_id, url, secrets) VALUES ($1, $2, $3::jsonb)",
        PROVIDER,
        receiver.url,
        json.dumps([{"secret": legacy, "expires_at": None}]),
    )
    async with notify(service_settings("notify")):
        assert_not_stored(await everything_stored(pool), legacy)
        event = routed()
        await publish(js, namespace, envelope(event, event.referral_id))
        await eventually(lambda: deliveries(receiver), lambda n: n >= 1)
        got = receiver.received[0]
        Webhook(legacy).verify(got.body, got.headers)


async def test_a_secret_copied_to_another_provider_does_not_sign_for_it(
    service_settings: Callable[..., Settings],
    pool: asyncpg.Pool,
    token: Token,
    receiver: Receiver,
    js: JetStreamContext,
) -> None:
    other = "women-and-society-shelter-buston"
    async with notify(service_settings("notify"), js) as (app, client):
        for pid in (PROVIDER, other):
            r = await client.put(
                f"/providers/{pid}/webhook",
                json={"url": receiver.url},
                headers=token("provider", provider_id=pid),
            )
            assert r.status_code == 201, r.text
        webhooks = app.state.service.webhooks
        now = datetime.now(UTC)

        async def signing_secrets(pid: str) -> list[str]:
            async with pool.acquire() as conn:
                endpoint = await webhooks.get(conn, pid)
            assert endpoint is not None
            return list(endpoint.signing_secrets(now))

        assert len(await signing_secrets(other)) == 1
        # Someone with write access to the table copies one provider's stored secrets
        # (and then its wrapped key as well) into another provider's row.
        for columns in (("secrets",), ("secrets", "wrapped_key")):
            sets = ", ".join(f"{c} = src.{c}" for c in columns)
            await pool.execute(
                f"UPDATE notify.webhook dst SET {sets} FROM notify.webhook src"
                " WHERE src.provider_id = $1 AND dst.provider_id = $2",
                PROVIDER,
                other,
            )
            assert await signing_secrets(other) == []
            assert len(await signing_secrets(PROVIDER)) == 1
