"""One NATS connection per process: FastStream's broker holds it, and the relay, the
sealer and the dead letters publish through it, as the service's own identity."""

from __future__ import annotations

from fastapi import FastAPI

from shared.natsauth import inbox_prefix


async def test_the_relay_sealer_dead_letters_and_subscribers_share_one_connection(
    app: FastAPI,
) -> None:
    rt = app.state.runtime
    assert rt.broker.subscribers, "the typed consumers are subscribed on the broker"
    assert rt.nc is rt.broker.connection and rt.nc.is_connected
    assert rt.sealer is not None
    for js in (rt.js, rt.relay.js, rt.sealer.js, rt.dead_letters("notify-referrals").js):
        assert js._nc is rt.nc
    # The service's identity: its credentials and its own reply inbox.
    assert bytes(rt.nc._inbox_prefix) == inbox_prefix("notify").encode()
    assert rt.nc._user_credentials is not None
    assert rt.nc.options["name"] == "safepath-notify"
