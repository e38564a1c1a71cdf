"""A consumer's fetch hands over its first message at once, keeps batches, loses nothing
(``shared/prompt_fetch.py``; issue 12, the flow's p99). On a real JetStream server."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared import prompt_fetch
from shared.jetstream import ensure_stream, stream_config

FETCH_TIMEOUT = 3.0


@pytest.fixture
async def sub(js: JetStreamContext, namespace: str) -> AsyncIterator[Any]:
    prompt_fetch.install()
    stream = f"{namespace}_PROMPT".upper()
    await ensure_stream(js, stream_config(stream, [f"{namespace}.prompt.>"]))
    s = await js.pull_subscribe(
        f"{namespace}.prompt.>",
        durable="prompt",
        stream=stream,
        config=ConsumerConfig(
            durable_name="prompt",
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=30,
        ),
    )
    yield s
    await s.unsubscribe()


async def _publish(js: JetStreamContext, namespace: str, n: int, start: int = 0) -> None:
    for i in range(start, start + n):
        await js.publish(f"{namespace}.prompt.m{i}", str(i).encode())


async def _held_request(nc: NATS, sub: Any) -> None:
    """A pull request for 16 that the server holds until it has them (or 3 s pass), as
    nats-py's fetch sends one when its first probe is answered with a status."""
    request = {"batch": 16, "expires": int(FETCH_TIMEOUT * 1e9)}
    await nc.publish(sub._nms, json.dumps(request).encode(), sub._deliver)
    await nc.flush()


async def test_the_first_message_is_handed_over_while_the_server_holds_a_request(
    nc: NATS, js: JetStreamContext, namespace: str, sub: Any
) -> None:
    await _held_request(nc, sub)
    await _publish(js, namespace, 1)
    t0 = time.monotonic()
    msgs = await sub.fetch(16, timeout=FETCH_TIMEOUT)
    took = time.monotonic() - t0
    assert [m.data for m in msgs] == [b"0"]
    # nats-py's own fetch waits here for the other 15 until its timeout (3 s): this one
    # returns once it has the first (the bound is wide on purpose; not a speed test).
    assert took < FETCH_TIMEOUT / 2, took
    for m in msgs:
        await m.ack()
    # The server's held request takes the next message; the next fetch hands it over.
    await _publish(js, namespace, 1, start=1)
    again = await sub.fetch(16, timeout=FETCH_TIMEOUT)
    assert [m.data for m in again] == [b"1"]


async def test_messages_waiting_come_in_one_batch_in_order(
    js: JetStreamContext, namespace: str, sub: Any
) -> None:
    await _publish(js, namespace, 5)
    msgs = await sub.fetch(16, timeout=FETCH_TIMEOUT)
    assert [m.data for m in msgs] == [str(i).encode() for i in range(5)]


async def test_every_message_once_across_small_batches(
    js: JetStreamContext, namespace: str, sub: Any
) -> None:
    await _publish(js, namespace, 11)
    seen: list[bytes] = []
    while len(seen) < 11:
        msgs = await sub.fetch(3, timeout=FETCH_TIMEOUT)
        assert 1 <= len(msgs) <= 3
        for m in msgs:
            seen.append(m.data)
            await m.ack()
    assert seen == [str(i).encode() for i in range(11)]
    with pytest.raises(asyncio.TimeoutError):  # nothing more, nothing twice
        await sub.fetch(3, timeout=0.5)


async def test_a_fetch_with_nothing_to_hand_over_times_out_as_before(sub: Any) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await sub.fetch(16, timeout=0.3)
