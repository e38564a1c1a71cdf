"""The webhook client's connections (``services.notify.app.egress``): the host is resolved
once, every address is vetted, and the connection goes to the vetted address (so a DNS
answer that changes between check and use cannot redirect it). No network: a fake
resolver, a fake inner backend, and one listener on 127.0.0.1 that must never be reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpcore
import pytest

from services.notify.app.channels import WebhookChannel
from services.notify.app.egress import DestinationRefused, VettingBackend, webhook_client
from services.notify.app.webhooks import generate_secret
from services.notify.domain.webhook_url import parse_allow_hosts

PUBLIC = "93.184.216.34"


class FakeResolver:
    """Answers each call with the next list of addresses (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class FakeInner(httpcore.AsyncNetworkBackend):
    """Records where it was asked to connect; fails for the addresses in ``refuse``."""

    def __init__(self, refuse: Iterable[str] = ()) -> None:
        self.connected: list[tuple[str, int]] = []
        self.refuse = set(refuse)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore interface)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> Any:
        self.connected.append((host, port))
        if host in self.refuse:
            raise httpcore.ConnectError("refused")
        return object()

    async def sleep(self, seconds: float) -> None:
        return None


async def test_connects_to_the_address_it_vetted_not_to_a_second_answer() -> None:
    resolve = FakeResolver([PUBLIC], ["127.0.0.1"])  # rebinding: public first, then inside
    inner = FakeInner()
    backend = VettingBackend(frozenset(), resolve=resolve, inner=inner)
    await backend.connect_tcp("hooks.example.org", 443, timeout=1.0)
    assert resolve.calls == [("hooks.example.org", 443)]
    assert inner.connected == [(PUBLIC, 443)]


@pytest.mark.parametrize(
    "answer",
    [["127.0.0.1"], [PUBLIC, "10.0.0.7"], ["169.254.169.254"], ["::1"], ["::ffff:127.0.0.1"]],
)
async def test_refuses_a_name_when_any_address_is_not_public(answer: list[str]) -> None:
    inner = FakeInner()
    backend = VettingBackend(frozenset(), resolve=FakeResolver(answer), inner=inner)
    with pytest.raises(DestinationRefused):
        await backend.connect_tcp("hooks.example.org", 443, timeout=1.0)
    assert inner.connected == []


async def test_ip_literals_are_vetted_without_resolving() -> None:
    resolve = FakeResolver([PUBLIC])
    inner = FakeInner()
    backend = VettingBackend(frozenset(), resolve=resolve, inner=inner)
    await backend.connect_tcp(PUBLIC, 443)
    for internal in ("127.0.0.1", "::1", "169.254.169.254", "10.1.1.1"):
        with pytest.raises(DestinationRefused):
            await backend.connect_tcp(internal, 443)
    assert resolve.calls == []
    assert inner.connected == [(PUBLIC, 443)]


async def test_allow_listed_hosts_connect_as_named() -> None:
    resolve = FakeResolver(["10.0.0.1"])
    inner = FakeInner()
    backend = VettingBackend(parse_allow_hosts("127.0.0.1:8123"), resolve=resolve, inner=inner)
    await backend.connect_tcp("127.0.0.1", 8123)
    with pytest.raises(DestinationRefused):
        await backend.connect_tcp("127.0.0.1", 8124)  # another port is not allow-listed
    assert inner.connected == [("127.0.0.1", 8123)]


async def test_tries_the_next_vetted_address_when_one_does_not_answer() -> None:
    other = "93.184.216.35"
    inner = FakeInner(refuse={PUBLIC})
    backend = VettingBackend(frozenset(), resolve=FakeResolver([PUBLIC, other]), inner=inner)
    await backend.connect_tcp("hooks.example.org", 443)
    assert inner.connected == [(PUBLIC, 443), (other, 443)]


async def test_a_name_that_does_not_resolve_is_a_connect_error() -> None:
    backend = VettingBackend(frozenset(), resolve=FakeResolver([]), inner=FakeInner())
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("hooks.example.org", 443)


async def test_unix_sockets_are_refused() -> None:
    with pytest.raises(DestinationRefused):
        await VettingBackend(frozenset(), inner=FakeInner()).connect_unix_socket("/tmp/x.sock")


async def test_the_webhook_channel_records_a_refusal_generically_and_never_connects() -> None:
    connections = 0

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        writer.close()

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = webhook_client(frozenset(), timeout=2.0, resolve=FakeResolver(["127.0.0.1"]))
    try:
        channel = WebhookChannel(client, 2.0)
        now = datetime.now(UTC)
        secret = generate_secret()
        for url in (
            f"https://rebound.example.org:{port}/hooks",
            f"http://rebound.example.org:{port}/hooks",
            f"https://127.0.0.1:{port}/hooks",
        ):
            sent = await channel.send(url, [secret], "n-1", b"{}", now)
            assert (sent.status_code, sent.error_kind, sent.latency_ms) == (
                None,
                "invalid_endpoint",
                0.0,
            )
    finally:
        await client.aclose()
        server.close()
        await server.wait_closed()
    assert connections == 0


async def test_the_client_ignores_proxy_settings_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy from the environment would make the proxy, not the vetted host, the peer.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("ALL_PROXY", "http://127.0.0.1:9")
    client = webhook_client(frozenset(), timeout=1.0, resolve=FakeResolver(["127.0.0.1"]))
    try:
        assert client.trust_env is False
    finally:
        await client.aclose()
