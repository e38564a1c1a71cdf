"""Which webhook URLs notify may call (``services.notify.domain.webhook_url``): pure rules,
no network. The send-time check on resolved addresses is in test_egress.py."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from services.notify.domain.webhook_url import (
    AllowedHost,
    UnsafeWebhookUrl,
    host_allow_listed,
    is_public_address,
    parse_allow_hosts,
    vet_webhook_url,
)

PUBLIC_HTTPS = [
    "https://hooks.example.org/safepath",
    "https://hooks.example.org:8443/a/b?x=1",
    "https://HOOKS.Example.ORG/x",
    "https://93.184.216.34/hooks",
    "https://[2606:2800:220:1:248:1893:25c8:1946]/hooks",
    "https://xn--80ak6aa92e.example/hooks",
    "https://hooks.example.org./x",
]

# Every one of these points (or may point) inside: loopback, unspecified, link-local and
# cloud metadata, RFC 1918, CGNAT, ULA, IPv6 loopback/link-local, IPv4-mapped and other
# IPv6 spellings of IPv4, multicast, reserved, documentation and benchmark ranges, other
# spellings of 127.0.0.1 that resolvers accept, and single-label or local names.
INTERNAL = [
    "https://127.0.0.1/hooks",
    "https://127.8.9.10/hooks",
    "https://localhost/hooks",
    "https://LOCALHOST:8443/hooks",
    "https://api.localhost/hooks",
    "https://printer.local/hooks",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://metadata/hooks",
    "https://0.0.0.0/hooks",
    "https://0.1.2.3/hooks",
    "https://169.254.169.254/latest/meta-data/",
    "https://10.0.0.5/hooks",
    "https://172.16.3.4/hooks",
    "https://172.31.255.255/hooks",
    "https://192.168.1.1/hooks",
    "https://100.64.0.1/hooks",
    "https://100.127.255.254/hooks",
    "https://192.0.0.8/hooks",
    "https://192.0.2.1/hooks",
    "https://198.18.0.1/hooks",
    "https://198.51.100.7/hooks",
    "https://203.0.113.9/hooks",
    "https://224.0.0.1/hooks",
    "https://239.255.255.250/hooks",
    "https://240.0.0.1/hooks",
    "https://255.255.255.255/hooks",
    "https://[::1]/hooks",
    "https://[::]/hooks",
    "https://[fe80::1]/hooks",
    "https://[fc00::1]/hooks",
    "https://[fd12:3456:789a::1]/hooks",
    "https://[fec0::1]/hooks",
    "https://[ff02::1]/hooks",
    "https://[2001:db8::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[::ffff:7f00:1]/hooks",
    "https://[::ffff:169.254.169.254]/hooks",
    "https://[::ffff:10.0.0.1]/hooks",
    "https://[::127.0.0.1]/hooks",
    "https://[64:ff9b::a9fe:a9fe]/hooks",
    "https://[2002:7f00:1::]/hooks",
    "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hooks",
    # other spellings of 127.0.0.1 / 169.254.169.254
    "https://2130706433/hooks",
    "https://0x7f.1/hooks",
    "https://0x7f000001/hooks",
    "https://0177.0.0.1/hooks",
    "https://017700000001/hooks",
    "https://127.1/hooks",
    "https://127.0.1/hooks",
    "https://2852039166/latest/meta-data/",
    "https://0xa9.0xfe.0xa9.0xfe/",
    "https://169.254.169.254./hooks",
]

MALFORMED = [
    # user information, in any form
    "https://127.0.0.1:@169.254.169.254/",
    "https://user:pass@hooks.example.org/",
    "https://user@hooks.example.org/",
    "https://hooks.example.org@127.0.0.1/",
    "https://@hooks.example.org/",
    "https://hooks.example.org\\@127.0.0.1/",
    # control characters, whitespace, NUL, non-ASCII
    "https://hooks.example.org/\x00",
    "https://hooks.example.org/a\nb",
    "https://hooks.example.org/a\rb",
    "https://hooks.example.org/a\tb",
    "https://hooks.example.org/a b",
    " https://hooks.example.org/",
    "https://hooks.example.org/\x7f",
    "https://hooks.ex\u0430mple.org/",
    "https://hooks.example.org/\u200b",
    # hosts that are not plain names or addresses
    "https://%31%32%37.0.0.1/",
    "https://[fe80::1%25eth0]/",
    "https://hooks_example.org/",
    "https://-hooks.example.org/",
    "https:///hooks",
    "https://:443/hooks",
    "https://hooks.example.org:/x",
    "https://hooks.example.org:0/x",
    "https://hooks.example.org:65536/x",
    "https://hooks.example.org:+443/x",
    "https://hooks.example.org:44a/x",
    "https://[::1/x",
    "https://hooks.example.org/x#frag",
    # not http(s)
    "ftp://hooks.example.org/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_",
    "hooks.example.org/x",
    "//hooks.example.org/x",
    "https:hooks.example.org",
    "",
]


@pytest.mark.parametrize("url", PUBLIC_HTTPS)
def test_public_https_urls_pass(url: str) -> None:
    target = vet_webhook_url(url, environment="production")
    assert target.scheme == "https"
    assert not target.allow_listed


@pytest.mark.parametrize("url", INTERNAL + MALFORMED)
@pytest.mark.parametrize("environment", ["production", "development", "test"])
def test_internal_and_malformed_urls_are_refused_everywhere(url: str, environment: str) -> None:
    with pytest.raises(UnsafeWebhookUrl) as e:
        vet_webhook_url(url, environment=environment)
    # The reason is safe to show: it never quotes the URL or any part of it.
    assert url.strip() == "" or url not in e.value.message
    for part in ("169.254", "127.0", "hooks.example", "example.org", "pass", "2130706433"):
        assert part not in e.value.message
    assert e.value.code


def test_plain_http_is_refused_unless_allow_listed_in_development_or_test() -> None:
    allow = parse_allow_hosts("127.0.0.1")
    url = "http://127.0.0.1:8123/hooks"
    for env in ("development", "test"):
        assert vet_webhook_url(url, environment=env, allow_hosts=allow).allow_listed
        with pytest.raises(UnsafeWebhookUrl):
            vet_webhook_url(url, environment=env)  # not allow-listed
        with pytest.raises(UnsafeWebhookUrl):
            vet_webhook_url("http://hooks.example.org/x", environment=env, allow_hosts=allow)
    with pytest.raises(UnsafeWebhookUrl) as e:
        vet_webhook_url(url, environment="production", allow_hosts=allow)
    assert e.value.code == "url_scheme"
    # https to an allow-listed internal receiver is fine everywhere
    https = "https://127.0.0.1:8123/hooks"
    assert vet_webhook_url(https, environment="production", allow_hosts=allow).allow_listed


def test_the_allow_list_is_exact_about_host_and_port() -> None:
    allow = parse_allow_hosts(" 127.0.0.1:8123 , receiver.test , [::1]:9000,")
    assert allow == frozenset(
        {
            AllowedHost("127.0.0.1", 8123),
            AllowedHost("receiver.test", None),
            AllowedHost("::1", 9000),
        }
    )
    env = "test"
    assert vet_webhook_url("http://127.0.0.1:8123/h", environment=env, allow_hosts=allow)
    assert vet_webhook_url("http://receiver.test:1/h", environment=env, allow_hosts=allow)
    assert vet_webhook_url("http://RECEIVER.test./h", environment=env, allow_hosts=allow)
    assert vet_webhook_url("http://[::1]:9000/h", environment=env, allow_hosts=allow)
    for url in (
        "http://127.0.0.1:8124/h",  # other port
        "http://127.0.0.1/h",  # default port 80
        "http://127.0.0.2:8123/h",  # other address
        "http://[::1]:9001/h",
        "http://2130706433:8123/h",  # another spelling is not the allow-listed host
        "http://0x7f.1:8123/h",
        "http://sub.receiver.test/h",
        "http://user@127.0.0.1:8123/h",  # userinfo is refused even for allow-listed hosts
    ):
        with pytest.raises(UnsafeWebhookUrl):
            vet_webhook_url(url, environment=env, allow_hosts=allow)
    assert host_allow_listed("127.0.0.1", 8123, allow)
    assert host_allow_listed("::1", 9000, allow)
    assert host_allow_listed("[::1]", 9000, allow)
    assert not host_allow_listed("127.0.0.1", 8124, allow)
    assert not host_allow_listed("localhost", 8123, allow)


def test_the_allow_list_is_empty_by_default_and_refuses_bad_entries() -> None:
    assert parse_allow_hosts("") == frozenset()
    assert parse_allow_hosts(" , ") == frozenset()
    for bad in ("http://127.0.0.1", "127.0.0.1:0", "127.0.0.1:x", "a b", "user@host", "[::1"):
        with pytest.raises(ValueError):
            parse_allow_hosts(bad)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "0.0.0.0",
        "10.1.2.3",
        "100.64.0.1",
        "169.254.169.254",
        "172.16.0.1",
        "192.168.0.1",
        "224.0.0.251",
        "255.255.255.255",
        "::",
        "::1",
        "fe80::1",
        "fc00::1",
        "fd00::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "64:ff9b::7f00:1",
        "2002:a9fe:a9fe::1",
        "2001:db8::1",
    ],
)
def test_addresses_that_are_not_public(address: str) -> None:
    assert not is_public_address(ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"]
)
def test_public_addresses(address: str) -> None:
    assert is_public_address(ip_address(address))
