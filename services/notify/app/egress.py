"""Where webhook deliveries may connect: the send-time half of the SSRF rules.

A URL that passed ``vet_webhook_url`` at registration can still name a host whose DNS
answer later points inside (DNS rebinding), so every new connection of the webhook
client goes through ``VettingBackend``: it resolves the host once, refuses the
connection if any of its addresses is not public, and connects to the vetted address
itself, never to the name again, so no second DNS answer is used. TLS still verifies
the certificate against the URL's host name (httpcore passes it as the server name).
An allow-listed ``host[:port]`` (development receivers) is connected to as named.

Refusals raise ``DestinationRefused``, which the channel records as one generic outcome
(``invalid_endpoint``, no latency): nothing in the delivery history tells an open
internal port from a closed one.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from ipaddress import ip_address
from typing import Any

import httpcore
import httpx

from services.notify.domain.webhook_url import (
    AllowedHost,
    IPAddress,
    host_allow_listed,
    is_public_address,
)

# ``(host, port) -> addresses``; the default asks the system resolver.
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]

USER_AGENT = "safepath-notify/0.1"


class DestinationRefused(Exception):
    """The webhook's host is (or resolves to) an address notify may not call."""


async def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses, in the resolver's order, without duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    seen: dict[str, None] = {}
    for info in infos:
        seen.setdefault(str(info[4][0]), None)
    return list(seen)


def _literal(host: str) -> IPAddress | None:
    try:
        return ip_address(host.strip("[]"))
    except ValueError:
        return None


class VettingBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that connects only to public addresses it vetted."""

    def __init__(
        self,
        allow_hosts: frozenset[AllowedHost],
        *,
        resolve: Resolver = resolve_host,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self.allow_hosts = allow_hosts
        self.resolve = resolve
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        def connect(to: str) -> Awaitable[httpcore.AsyncNetworkStream]:
            return self.inner.connect_tcp(
                to,
                port,
                timeout=timeout,
                local_address=local_address,
                socket_options=socket_options,
            )

        if host_allow_listed(host, port, self.allow_hosts):
            return await connect(host)
        addresses = await self._addresses(host, port, timeout)
        if not addresses:
            raise httpcore.ConnectError("the webhook host did not resolve")
        if not all(is_public_address(a) for a in addresses):
            raise DestinationRefused
        error: Exception | None = None
        for address in addresses:
            try:
                return await connect(str(address))
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as e:
                error = e
        assert error is not None
        raise error

    async def _addresses(self, host: str, port: int, within: float | None) -> list[IPAddress]:
        literal = _literal(host)
        if literal is not None:
            return [literal]
        try:
            async with asyncio.timeout(within):
                answers = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout("resolving the webhook host timed out") from None
        except OSError:
            raise httpcore.ConnectError("the webhook host did not resolve") from None
        addresses: list[IPAddress] = []
        for answer in answers:
            literal = _literal(answer.split("%", 1)[0])
            if literal is None:
                raise DestinationRefused
            addresses.append(literal)
        return addresses

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationRefused

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class VettedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport with its connection pool on a ``VettingBackend``.

    ``AsyncHTTPTransport`` takes no network backend, so the pool it built is replaced by
    an equivalent one that has ours (httpx is pinned below 0.29; the unit tests of this
    module fail if the backend is bypassed). Proxies from the environment are ignored:
    with one, the proxy would be the peer and the vetted address would not matter.
    """

    def __init__(self, backend: VettingBackend, limits: httpx.Limits = httpx.Limits()) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def webhook_client(
    allow_hosts: frozenset[AllowedHost],
    timeout: float,
    *,
    resolve: Resolver = resolve_host,
    inner: httpcore.AsyncNetworkBackend | None = None,
) -> httpx.AsyncClient:
    """The client every webhook delivery goes through."""
    backend = VettingBackend(allow_hosts, resolve=resolve, inner=inner)
    return httpx.AsyncClient(
        transport=VettedTransport(backend),
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )
