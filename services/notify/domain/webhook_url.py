"""Which webhook URLs notify may call: the rules, as pure functions (no I/O).

A provider chooses its webhook URL and later reads the outcome of every delivery, so a
URL that points inside the network would make notify a port scanner for it (SSRF). The
rules, applied when a URL is registered and again before every delivery:

- ``https://`` only; plain ``http://`` only in development and test, and only to a host
  on the allow-list (``SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS``, empty by default).
- No user information (``user:pass@``, ``127.0.0.1:@169.254.169.254``), no fragment,
  no backslash, whitespace, control character or non-ASCII character anywhere (a
  punycode host and a percent-encoded path are fine), no percent-encoding in the host.
- The host is a DNS name of at least two labels (not ``localhost``, ``*.localhost``,
  ``*.local``, ``*.internal``, ``*.home.arpa``), or an IP address in its one canonical
  form (dotted decimal, or bracketed IPv6) that ``is_public_address``. Other spellings
  that resolvers accept (``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) are
  refused outright.
- A host on the allow-list (exact host, and port when the entry names one) skips the
  address rules; nothing else does.

A name can resolve to anything later (DNS rebinding), so the address actually connected
to is checked again at send time (``services.notify.app.egress``) with
``is_public_address``. Messages are safe to show: they never quote the URL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Literal

IPAddress = IPv4Address | IPv6Address

DEV_ENVIRONMENTS = frozenset({"development", "test"})
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_PORT = re.compile(r"^[0-9]{1,5}$")
# The last label decides whether resolvers read a host as an IPv4 number (WHATWG URL,
# inet_aton): all digits, or 0x-hex. No top-level domain looks like that.
_NUMERIC_LABEL = re.compile(r"^(?:[0-9]+|0[xX][0-9a-fA-F]*)$")
_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")

# Never public, whatever ``ipaddress`` says of them in this Python version.
_BLOCKED_V4 = tuple(
    IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network"
        "10.0.0.0/8",  # RFC 1918
        "100.64.0.0/10",  # CGNAT (RFC 6598)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",  # RFC 1918
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # RFC 1918
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, broadcast
    )
)
_BLOCKED_V6 = tuple(
    IPv6Network(n)
    for n in (
        "::/127",  # unspecified, loopback
        "::/96",  # IPv4-compatible (deprecated)
        "::ffff:0:0/96",  # IPv4-mapped (checked as IPv4 too)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments (Teredo, ORCHID, ...)
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)
_NAT64 = IPv6Network("64:ff9b::/96")

UrlProblem = Literal[
    "url_characters",
    "url_scheme",
    "url_userinfo",
    "url_host",
    "url_port",
    "url_address",
    "url_fragment",
]


class UnsafeWebhookUrl(ValueError):
    """The URL may not be used; ``message`` is safe to show (it never quotes the URL)."""

    def __init__(self, code: UrlProblem, message: str) -> None:
        super().__init__(message)
        self.code: UrlProblem = code
        self.message = message


@dataclass(frozen=True)
class AllowedHost:
    """One allow-list entry: a host (lower case; an IP address in canonical form) and,
    optionally, the one port allowed on it."""

    host: str
    port: int | None = None


@dataclass(frozen=True)
class WebhookTarget:
    """A vetted URL's parts: where notify will connect."""

    scheme: Literal["http", "https"]
    host: str  # lower case, no trailing dot; an IPv6 address without brackets
    port: int
    address: IPAddress | None  # when the host is an IP address
    allow_listed: bool


def is_public_address(address: IPAddress) -> bool:
    """True only for a globally routable unicast address, looking through IPv6 forms
    that carry an IPv4 address (mapped, NAT64, 6to4, compatible)."""
    if isinstance(address, IPv6Address):
        embedded = _embedded_v4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
        if any(address in n for n in _BLOCKED_V6):
            return embedded is not None and address.ipv4_mapped is not None
        if address.sixtofour is not None or address.teredo is not None:
            return False  # public-looking tunnels into anything
    elif any(address in n for n in _BLOCKED_V4):
        return False
    return bool(
        address.is_global
        and not address.is_multicast
        and not address.is_reserved
        and not address.is_link_local
        and not address.is_loopback
        and not address.is_unspecified
        and not address.is_private
    )


def _embedded_v4(address: IPv6Address) -> IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or int(address) >> 32 == 0:
        return IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def canonical_host(host: str) -> str:
    """Lower case, no trailing dot, IPv6 without brackets, IP addresses canonical."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
    if h.endswith("."):
        h = h[:-1]
    try:
        return str(ip_address(h))
    except ValueError:
        return h


def parse_allow_hosts(text: str) -> frozenset[AllowedHost]:
    """``host[:port]`` entries, comma-separated (IPv6 as ``[::1]:9000``); ``ValueError``
    names the first bad entry by position, not by content."""
    entries: set[AllowedHost] = set()
    for i, raw in enumerate(text.split(","), start=1):
        item = raw.strip()
        if not item:
            continue
        try:
            host, port = _split_host_port(item)
            if port == "":
                raise ValueError
            _check_host_syntax(host)
        except (UnsafeWebhookUrl, ValueError):
            raise ValueError(f"allow-list entry {i} is not host[:port]") from None
        entries.add(AllowedHost(canonical_host(host), _port(port) if port else None))
    return frozenset(entries)


def host_allow_listed(host: str, port: int, allow_hosts: frozenset[AllowedHost]) -> bool:
    """Whether ``host:port`` (as a URL or a connection names it) is on the allow-list."""
    if not allow_hosts:
        return False
    h = canonical_host(host)
    return AllowedHost(h, port) in allow_hosts or AllowedHost(h, None) in allow_hosts


def vet_webhook_url(
    url: str,
    *,
    environment: str,
    allow_hosts: frozenset[AllowedHost] = frozenset(),
) -> WebhookTarget:
    """The URL's target when notify may call it; ``UnsafeWebhookUrl`` otherwise."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeWebhookUrl("url_characters", f"must be 1 to {MAX_URL_LENGTH} characters")
    if any(not (0x21 <= ord(c) <= 0x7E) for c in url) or "\\" in url:
        raise UnsafeWebhookUrl(
            "url_characters",
            "must not contain spaces, control characters, backslashes or non-ASCII "
            "characters (use punycode for the host and percent-encoding for the path)",
        )
    m = _SCHEME.match(url)
    if m is None or m.group(1).lower() not in DEFAULT_PORTS:
        raise UnsafeWebhookUrl("url_scheme", "must be an https:// URL")
    scheme: Literal["http", "https"] = "https" if m.group(1).lower() == "https" else "http"
    rest = url[m.end() :]
    cut = min((i for i in (rest.find(c) for c in "/?#") if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    if "#" in tail:
        raise UnsafeWebhookUrl("url_fragment", "must not have a #fragment")
    if "@" in authority:
        raise UnsafeWebhookUrl("url_userinfo", "must not contain user information (user@)")
    host, port_text = _split_host_port(authority)
    if port_text == "":
        raise UnsafeWebhookUrl("url_port", "has an empty port")
    port = _port(port_text) if port_text is not None else DEFAULT_PORTS[scheme]
    _check_host_syntax(host)
    canonical = canonical_host(host)
    allowed = host_allow_listed(canonical, port, allow_hosts)

    if scheme == "http" and not (environment in DEV_ENVIRONMENTS and allowed):
        raise UnsafeWebhookUrl(
            "url_scheme",
            "must be an https:// URL (plain http:// only to an allow-listed development receiver)",
        )
    address = _address_of(host)
    if not allowed:
        if address is not None:
            if not is_public_address(address):
                raise UnsafeWebhookUrl(
                    "url_address",
                    "must not point at a loopback, private, link-local, multicast or "
                    "reserved address",
                )
        elif (
            "." not in canonical or canonical in _LOCAL_NAMES or canonical.endswith(_LOCAL_SUFFIXES)
        ):
            raise UnsafeWebhookUrl(
                "url_host", "must name a public host (a local or single-label name is not)"
            )
    return WebhookTarget(scheme, canonical, port, address, allowed)


def _split_host_port(authority: str) -> tuple[str, str | None]:
    """``(host, port)``; port ``None`` when absent, ``""`` when the colon has nothing."""
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise UnsafeWebhookUrl("url_host", "has an unclosed [IPv6] host")
        host, after = authority[: end + 1], authority[end + 1 :]
        if after == "":
            return host, None
        if not after.startswith(":"):
            raise UnsafeWebhookUrl("url_host", "has text after the [IPv6] host")
        return host, after[1:]
    if authority.count(":") > 1:
        raise UnsafeWebhookUrl("url_host", "must write an IPv6 host in [brackets]")
    host, colon, port = authority.partition(":")
    return host, (port if colon else None)


def _port(text: str) -> int:
    if not _PORT.match(text) or not 0 < int(text) < 65536:
        raise UnsafeWebhookUrl("url_port", "must have a port from 1 to 65535")
    return int(text)


def _check_host_syntax(host: str) -> None:
    if not host:
        raise UnsafeWebhookUrl("url_host", "must name a host")
    if "%" in host:
        raise UnsafeWebhookUrl("url_host", "must not percent-encode the host or name a zone")
    if host.startswith("["):
        try:
            IPv6Address(host[1:-1])
        except ValueError:
            raise UnsafeWebhookUrl("url_host", "has an invalid [IPv6] address") from None
        return
    name = host.lower()
    name = name[:-1] if name.endswith(".") else name
    labels = name.split(".")
    if _NUMERIC_LABEL.match(labels[-1]):
        # Resolvers read this as an IPv4 number; only the canonical dotted quad is allowed.
        try:
            if str(IPv4Address(name)) == name:
                return
        except ValueError:
            pass
        raise UnsafeWebhookUrl(
            "url_host", "must write an IPv4 address as four decimal numbers (a.b.c.d)"
        )
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UnsafeWebhookUrl("url_host", "must be a valid host name")


def _address_of(host: str) -> IPAddress | None:
    h = host[1:-1] if host.startswith("[") else host.rstrip(".")
    try:
        return ip_address(h)
    except ValueError:
        return None
