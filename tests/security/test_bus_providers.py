"""A provider's NATS credentials read its own notifications and nothing else.

Runs a real nats-server in operator mode with a trust chain made for the test
(``shared.natsauth``, as ``safepath up`` makes it), on a free port with its own
JetStream store; the service and provider credentials are issued the way
``safepath nats credentials`` issues them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NATS

from services.notify.app.channels import ensure_provider_consumer
from services.notify.app.subjects import (
    notifications_stream_name,
    provider_durable,
    provider_inbox_prefix,
    provider_subject,
)
from shared.devservers import EmbeddedNats, free_port
from shared.jetstream import ensure_stream, notifications_stream_config
from shared.natsauth import Credentials, inbox_prefix

PROVIDER_A = "femida-shelter-dushanbe"
PROVIDER_B = "women-and-society-shelter-buston"
STREAM = notifications_stream_name()


@dataclass
class Server:
    url: str
    server: EmbeddedNats
    credentials: Credentials


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    port = free_port()
    assert port != 4222
    credentials = Credentials(tmp_path / "auth")
    # The store directory comes on the command line (-sd), as for the suite's own server.
    ns = EmbeddedNats(tmp_path / "jetstream", port, config=credentials.server_config_path())
    url = ns.start()
    _SERVER.append(Server(url, ns, credentials))
    try:
        yield _SERVER[-1]
    finally:
        ns.stop()
        _SERVER.clear()


class Errors:
    """Asynchronous errors the server sends a client (permission violations arrive so)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, e: Exception) -> None:
        self.seen.append(str(e))

    async def wait_for(self, fragment: str, within: float = 3.0) -> str:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for message in self.seen:
                if fragment.lower() in message.lower():
                    return message
            await asyncio.sleep(0.02)
        raise AssertionError(f"no error mentioning {fragment!r}; saw {self.seen}")


_SERVER: list[Server] = []


async def connect_as(url: str, identity: str) -> NATS:
    creds = _SERVER[-1].credentials.issue(identity, "safepath")
    return await nats.connect(url, user_credentials=str(creds), inbox_prefix=inbox_prefix(identity))


async def connect_service(url: str) -> NATS:
    return await connect_as(url, "notify")


async def connect_provider(url: str, provider_id: str, errors: Errors) -> NATS:
    identity = f"provider:{provider_id}"
    creds = _SERVER[-1].credentials.issue(identity, "safepath")
    return await nats.connect(
        url,
        user_credentials=str(creds),
        inbox_prefix=provider_inbox_prefix(provider_id),
        error_cb=errors.record,
        allow_reconnect=False,
    )


async def given_one_notification_for_each_provider(url: str) -> None:
    setup = await connect_as(url, "setup")
    await ensure_stream(setup.jetstream(), notifications_stream_config("safepath"))
    await setup.close()
    service = await connect_service(url)
    js = service.jetstream()
    for pid in (PROVIDER_A, PROVIDER_B):
        await ensure_provider_consumer(js, pid)
        body = json.dumps({"specversion": "1.0", "id": f"n-{pid}", "data": {"for": pid}})
        ack = await js.publish(provider_subject(pid), body.encode(), headers={"Nats-Msg-Id": pid})
        assert ack.stream == STREAM
    await service.close()


async def stream_messages(url: str) -> int:
    service = await connect_service(url)
    info = await service.jetstream().stream_info(STREAM)
    await service.close()
    return info.state.messages


async def test_a_provider_reads_its_own_notifications_through_its_durable_consumer(
    server: Server,
) -> None:
    await given_one_notification_for_each_provider(server.url)
    errors = Errors()
    nc = await connect_provider(server.url, PROVIDER_A, errors)

    sub = await nc.jetstream().pull_subscribe_bind(
        durable=provider_durable(PROVIDER_A), stream=STREAM
    )
    [msg] = await sub.fetch(1, timeout=3)
    await msg.ack_sync(timeout=3)

    assert json.loads(msg.data)["data"] == {"for": PROVIDER_A}
    assert errors.seen == []
    # The acknowledgement reached the server: nothing is pending for A any more.
    info = await sub.consumer_info()
    assert info.num_pending == 0 and info.num_ack_pending == 0
    await nc.close()


async def test_a_provider_cannot_read_another_providers_notifications(server: Server) -> None:
    await given_one_notification_for_each_provider(server.url)
    errors = Errors()
    nc = await connect_provider(server.url, PROVIDER_A, errors)

    # Not by subscribing to B's subject, nor to every provider's ...
    await nc.subscribe(provider_subject(PROVIDER_B))
    await errors.wait_for(
        f'Permissions Violation for Subscription to "{provider_subject(PROVIDER_B)}"'
    )
    await nc.subscribe("safepath.provider.*.notifications")
    await errors.wait_for('Permissions Violation for Subscription to "safepath.provider.*')
    # ... nor to the inboxes where others' replies (and pulled messages) arrive ...
    await nc.subscribe("_INBOX.>")
    await errors.wait_for('Permissions Violation for Subscription to "_INBOX.>"')
    # ... nor by pulling from B's durable consumer ...
    sub_b = await nc.jetstream().pull_subscribe_bind(
        durable=provider_durable(PROVIDER_B), stream=STREAM
    )
    with pytest.raises(nats.errors.TimeoutError):
        await sub_b.fetch(1, timeout=1)
    await errors.wait_for(
        f'Permissions Violation for Publish to "$JS.API.CONSUMER.MSG.NEXT.{STREAM}.'
        f'{provider_durable(PROVIDER_B)}"'
    )
    # ... nor by creating a consumer of its own on B's subject.
    with pytest.raises(nats.errors.TimeoutError):
        await nc.jetstream().pull_subscribe(
            provider_subject(PROVIDER_B), durable="sneaky", stream=STREAM
        )
    await errors.wait_for('Permissions Violation for Publish to "$JS.API.CONSUMER.INFO')

    # B's notification is still waiting for B, unread.
    service = await connect_service(server.url)
    info = await service.jetstream().consumer_info(STREAM, provider_durable(PROVIDER_B))
    assert info.num_pending == 1 and info.delivered.stream_seq == 0
    await service.close()
    await nc.close()


async def test_a_provider_cannot_publish_anywhere(server: Server) -> None:
    await given_one_notification_for_each_provider(server.url)
    errors = Errors()
    nc = await connect_provider(server.url, PROVIDER_A, errors)

    for subject in (
        provider_subject(PROVIDER_A),  # not even a fake notification to itself
        provider_subject(PROVIDER_B),
        "safepath.referral.r-1.ReferralAccepted",
        "$JS.API.STREAM.DELETE." + STREAM,
    ):
        await nc.publish(subject, b"{}")
        await nc.flush()
        await errors.wait_for(f'Permissions Violation for Publish to "{subject}"')

    await nc.close()
    assert await stream_messages(server.url) == 2
