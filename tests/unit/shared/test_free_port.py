"""``free_port`` hands out listening ports outside the kernel's ephemeral range.

A port from the ephemeral range can be taken as the local port of an outgoing connection
in the second a server takes to start (CI once failed so: "address already in use").
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from shared import devservers
from shared.devservers import free_port


def test_ports_lie_below_the_ephemeral_range_and_are_free() -> None:
    low = devservers._ephemeral_low()
    if low is None or low <= devservers._LISTEN_PORTS_FROM:
        pytest.skip("no ephemeral range to stay out of on this machine")
    ports = {free_port() for _ in range(50)}
    assert all(devservers._LISTEN_PORTS_FROM <= p < low for p in ports)
    assert len(ports) > 1  # drawn, not one fixed port
    for p in ports:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_port_in_use_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        # Every draw hits the held port: free_port falls back to the kernel's choice.
        monkeypatch.setattr(devservers._random, "randrange", lambda a, b: taken)
        monkeypatch.setattr(devservers, "_ephemeral_low", lambda: taken + 1)
        monkeypatch.setattr(devservers, "_LISTEN_PORTS_FROM", 1)
        assert free_port() != taken


def test_without_the_kernels_range_the_kernel_chooses(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(devservers, "_EPHEMERAL_RANGE", tmp_path / "absent")
    assert devservers._ephemeral_low() is None
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
