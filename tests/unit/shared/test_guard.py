"""The request guard's pure parts (``shared/guard.py``): which body limit a path gets, and
the rate-limit counters. The middleware itself is tested against the case service in
tests/security/test_request_limits.py."""

from __future__ import annotations

from typing import Any

from shared.auth import Principal
from shared.guard import GuardConfig, RateLimits, RequestGuard


async def _app(scope: Any, receive: Any, send: Any) -> None:  # never called here
    raise AssertionError


def test_a_route_template_gets_its_own_limit_and_nothing_else_does() -> None:
    config = GuardConfig(
        max_body_bytes=1000,
        body_limits={"/cases": 5000, "/cases/{case_id}/profile": 7000, "/small": 10},
    )
    guard = RequestGuard(_app, config)
    assert guard.body_limit("/cases") == 5000
    assert guard.body_limit("/cases/") == 5000
    assert guard.body_limit("/cases/0190-abc/profile") == 7000
    assert guard.body_limit("/cases/0190-abc/notes") == 1000
    assert guard.body_limit("/cases/a/b/profile") == 1000  # one segment per parameter
    assert guard.body_limit("/casesX") == 1000
    assert guard.body_limit("/small") == 1000  # an override never lowers the default


def test_a_principal_over_its_limit_waits_and_others_do_not() -> None:
    limits = RateLimits(per_principal=2, per_address=0)
    alice = Principal("alice", "caseworker")
    assert limits.principal(alice) is None
    assert limits.principal(alice) is None
    retry = limits.principal(alice)
    assert retry is not None and 1 <= retry <= 60
    assert limits.principal(Principal("alice", "supervisor")) is None  # sub + role
    assert limits.principal(Principal("bob", "caseworker")) is None
    # 0 turns a limit off
    assert all(limits.address("10.0.0.1") is None for _ in range(100))


def test_an_address_over_its_limit_waits() -> None:
    limits = RateLimits(per_principal=0, per_address=3)
    assert [limits.address("192.0.2.7") for _ in range(3)] == [None, None, None]
    assert limits.address("192.0.2.7") is not None
    assert limits.address("192.0.2.8") is None
