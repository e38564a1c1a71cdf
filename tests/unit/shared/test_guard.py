"""The request guard's pure parts (``shared/guard.py``): which body limit a path gets, and
the rate-limit counters. The middleware itself is tested against the case service in
tests/security/test_request_limits.py."""

from __future__ import annotations

from typing import Any

from shared.auth import Principal
from shared.guard import GuardConfig, RateLimits, RequestGuard, SlidingWindow


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


class Clock:
    def __init__(self) -> None:
        self.now = 600.0  # the start of a 60-second window

    def __call__(self) -> float:
        return self.now


def test_the_sliding_window_weighs_the_previous_window_as_it_slides_out() -> None:
    clock = Clock()
    window = SlidingWindow(3, 60.0, clock)
    key = ("caseworker", "alice")
    assert [window.hit(key) for _ in range(3)] == [None, None, None]
    wait = window.hit(key)  # a fourth within the window: refused, not counted
    assert wait == 60  # at most one window
    clock.now += 60  # next window: the three of the last one still weigh 3
    assert window.hit(key) is not None
    clock.now += 19  # 3 x 41/60 = 2.05: no room yet
    assert window.hit(key) is not None
    clock.now += 1  # 3 x 40/60 = 2: room for one
    assert window.hit(key) is None
    wait = window.hit(key)  # 2 + 1 counted: the next needs 3 x (60 - t)/60 + 1 <= 2
    assert wait == 20  # t = 40 s into the window, 20 s from now
    clock.now += 20
    assert window.hit(key) is None


def test_the_sliding_window_forgets_keys_whose_windows_ended() -> None:
    clock = Clock()
    window = SlidingWindow(2, 60.0, clock)
    for i in range(1000):
        assert window.hit((f"10.0.{i // 256}.{i % 256}",)) is None
    assert len(window._counts) == 1000
    clock.now += 120  # two windows later: nothing of theirs weighs any more
    assert window.hit(("192.0.2.1",)) is None
    assert len(window._counts) == 1
    assert window.hit(("10.0.0.0",)) is None  # a forgotten key starts afresh
