"""A provider's webhook URL must not make notify an internal port scanner (SSRF).

Registration refuses URLs that point (or may point) inside: loopback, link-local and
cloud metadata, private and CGNAT ranges, IPv6 spellings of those, other spellings of
127.0.0.1, and any user information, with 422 naming ``body.url``. At send time the
host is resolved again and a name that now resolves inside (DNS rebinding) is not
called; the attempt is recorded with one generic outcome, the same whether the internal
port was open or closed, so the delivery history tells the provider nothing.
Development receivers on 127.0.0.1 need ``SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.notify.config import NotifySettings
from services.notify.main import create_app
from shared.problems import PROBLEM_MEDIA_TYPE
from shared.settings import Settings
from tests.integration.notify.conftest import Token, auth, client, settings
from tests.integration.notify.stories import (
    OTHER_PROVIDER,
    PROVIDER,
    envelope,
    eventually,
    notify_events,
    publish,
    publish_directory,
    routed,
)

__all__ = ["auth", "client", "settings"]

REFUSED = [
    "http://127.0.0.1:8123/hooks",  # plain http to a loopback receiver that is not allow-listed
    "https://127.0.0.1/hooks",
    "https://localhost:8443/hooks",
    "https://0.0.0.0/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://10.0.0.5/hooks",
    "https://172.16.3.4/hooks",
    "https://192.168.1.1/hooks",
    "https://100.64.0.1/hooks",
    "https://[::1]/hooks",
    "https://[fe80::1]/hooks",
    "https://[fd12:3456::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://224.0.0.1/hooks",
    "https://240.0.0.1/hooks",
    "https://2130706433/hooks",
    "https://0x7f.1/hooks",
    "https://0177.0.0.1/hooks",
    "https://127.0.0.1:@169.254.169.254/",
    "https://user:secret@hooks.example.org/",
    "https://hooks.example.org@127.0.0.1/",
    "https://%31%32%37.0.0.1/",
]

CONTROL = [
    "https://hooks.example.org/\x00",
    "https://hooks.example.org/a\nHost: 127.0.0.1",
    "https://hooks.example.org/a\rb",
    "https://hooks.example.org/a b",
    "https://hooks.example.org/\x7f",
]


@pytest.fixture
def notify_settings() -> NotifySettings:
    """Fast retries and no allow-list: nothing internal may be called."""
    return NotifySettings(
        backoff_seconds=[0.2, 0.2], webhook_timeout_seconds=2.0, nats_timeout_seconds=2.0
    )


@pytest.fixture
async def app(
    settings: Settings, notify_settings: NotifySettings, js: JetStreamContext
) -> AsyncIterator[FastAPI]:
    application = create_app(settings, notify_settings)
    async with application.router.lifespan_context(application):
        await publish_directory(js, settings.namespace)
        yield application


def assert_refused(r: httpx.Response, url: str) -> None:
    assert r.status_code == 422, (url, r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE), url
    body = r.json()
    assert [e["path"] for e in body["errors"]] == ["body.url"], (url, body)
    # the answer never echoes the URL (or its credentials)
    assert url not in r.text and "secret" not in r.text.replace('"secret"', "")


async def test_registration_refuses_internal_destinations_and_userinfo(
    client: httpx.AsyncClient, auth: Token
) -> None:
    own = auth("provider", provider_id=PROVIDER)
    accepted = []
    for url in REFUSED:
        r = await client.put(f"/providers/{PROVIDER}/webhook", json={"url": url}, headers=own)
        if r.status_code != 422:
            accepted.append((url, r.status_code))
            continue
        assert_refused(r, url)
    assert accepted == []
    # and nothing was stored: the first good registration is a creation
    r = await client.put(
        f"/providers/{PROVIDER}/webhook",
        json={"url": "https://hooks.example.org/safepath"},
        headers=own,
    )
    assert r.status_code == 201, r.text


async def test_a_nul_byte_or_control_character_is_422_not_500(
    client: httpx.AsyncClient, auth: Token
) -> None:
    own = auth("provider", provider_id=PROVIDER)
    for url in CONTROL:
        r = await client.put(f"/providers/{PROVIDER}/webhook", json={"url": url}, headers=own)
        assert_refused(r, url)


# -- send time: the resolved address ----------------------------------------------------


class Listener:
    """A TCP port on 127.0.0.1 that counts the connections made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> Listener:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    lst = await Listener().start()
    yield lst
    await lst.stop()


@pytest.fixture
def rebinding_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """Names (``host -> address``) that this process's resolver answers with an internal
    address, as an attacker's DNS server would after the registration."""
    names: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.rstrip(".").lower() in names:
            address = names[name.rstrip(".").lower()]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield names


async def webhook_attempts(pool: asyncpg.Pool, referral_notifications: int) -> list[Any]:
    attempts = await eventually(
        lambda: notify_events(pool, "DeliveryAttempted"),
        lambda a: len([x for x in a if x["channel"] == "webhook"]) >= referral_notifications,
    )
    return [a for a in attempts if a["channel"] == "webhook"]


async def test_a_name_that_resolves_inside_at_send_time_is_not_called(
    client: httpx.AsyncClient,
    auth: Token,
    listener: Listener,
    rebinding_dns: dict[str, str],
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    # Two public-looking names; by delivery time one resolves to an open internal port,
    # the other to a closed one. Registration cannot know; delivery must not connect.
    rebinding_dns["open.rebind-attacker.org"] = "127.0.0.1"
    rebinding_dns["closed.rebind-attacker.org"] = "127.0.0.1"
    targets = {
        PROVIDER: f"https://open.rebind-attacker.org:{listener.port}/hooks",
        OTHER_PROVIDER: f"https://closed.rebind-attacker.org:{closed_port()}/hooks",
    }
    referrals = {}
    for provider, url in targets.items():
        own = auth("provider", provider_id=provider)
        r = await client.put(f"/providers/{provider}/webhook", json={"url": url}, headers=own)
        assert r.status_code == 201, r.text
        event = routed(provider_id=provider)
        referrals[provider] = event.referral_id
        await publish(js, namespace, envelope(event, event.referral_id))

    await webhook_attempts(pool, 2)
    assert listener.connections == 0

    # What each provider reads in its delivery history: one generic outcome, whether the
    # internal port was open or closed, with no timing to tell them apart.
    outcomes = {}
    for provider, referral_id in referrals.items():
        own = auth("provider", provider_id=provider)
        r = await client.get(f"/referrals/{referral_id}/notifications", headers=own)
        assert r.status_code == 200, r.text
        [n] = r.json()["notifications"]
        [attempt] = [a for a in n["attempts"] if a["channel"] == "webhook"]
        outcomes[provider] = (
            attempt["status_code"],
            attempt["error_kind"],
            attempt["latency_ms"],
            attempt["succeeded"],
        )
    assert outcomes[PROVIDER] == outcomes[OTHER_PROVIDER] == (None, "invalid_endpoint", 0.0, False)
    # refused, not retried against the internal host
    await asyncio.sleep(0.6)
    assert len(await webhook_attempts(pool, 2)) == 2
    assert listener.connections == 0


async def test_an_endpoint_stored_before_the_allow_list_was_narrowed_is_not_called(
    settings: Settings, listener: Listener, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    """The rules apply at send time too, not only to new registrations."""
    fast: dict[str, Any] = {"backoff_seconds": [0.2], "webhook_timeout_seconds": 2.0}
    url = f"http://127.0.0.1:{listener.port}/hooks"
    from shared.auth import AuthConfig, mint_token

    token = mint_token(AuthConfig.from_settings(settings), "p", "provider", provider_id=PROVIDER)
    allowing = create_app(settings, NotifySettings(**fast, webhook_allow_hosts="127.0.0.1"))
    async with (
        allowing.router.lifespan_context(allowing),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=allowing), base_url="http://test") as c,
    ):
        await publish_directory(js, namespace)
        r = await c.put(
            f"/providers/{PROVIDER}/webhook",
            json={"url": url},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 201, r.text

    strict = create_app(settings, NotifySettings(**fast))
    async with strict.router.lifespan_context(strict):
        event = routed()
        await publish(js, namespace, envelope(event, event.referral_id))
        [attempt] = await webhook_attempts(pool, 1)
    assert (attempt["status_code"], attempt["error_kind"]) == (None, "invalid_endpoint")
    assert listener.connections == 0
