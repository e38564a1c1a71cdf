"""A pull consumer's fetch that hands over its first message at once.

FastStream's pull subscriber asks nats-py for up to a batch of messages at a time
(``fetch(batch, timeout)``). Once nats-py's fetch of more than one message has its first,
it waits for the rest until the fetch's timeout unless the server ends the pull request
with a status, and the server does not end a pull request that is held for more
messages: when a consumer had such a request outstanding (nats-py's fetch sends one when
its first probe is answered with a status), a new message went to it and sat in this process until
the consumer's next message came in. At 10 to 20 flows a second that was 30 to 100 ms
per hop, in bursts, most of the flow's p99 (docs/performance.md, "the flow's p99").

This fetch never waits for a second message. It waits, as nats-py does, for the first
(a message already received, or a request for one), takes what has already arrived, and
then, when the server said it held more, asks for up to the rest without waiting
(``no_wait`` and no ``expires``, which the server answers at once, ending with a status
when it has fewer). A message the server sends later to an earlier request lands in the
same inbox and goes out with the next fetch. Nothing is acknowledged here: a message taken
and then dropped by a failure is delivered again after the consumer's ack wait, as before.

It reads nats-py's pull subscription from inside (its inbox queue, its request subject),
as nats-py's own fetch does; ``tests/integration/core/test_prompt_fetch.py`` runs every
path against a real server, so a nats-py release that moves them fails there first.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from nats.aio.msg import Msg
from nats.js.client import JetStreamContext

_PullSubscription = JetStreamContext.PullSubscription
_nats_fetch = _PullSubscription.fetch
# The server answers a request that does not wait at once; this only bounds an answer lost
# on the way (what it carries then goes out with the next fetch).
ANSWER_SECONDS = 1.0


# nats-py's signature, which FastStream calls: ``timeout`` is the fetch's own.
async def fetch_prompt(
    self: Any,
    batch: int = 1,
    timeout: float | None = 5,  # noqa: ASYNC109
    heartbeat: float | None = None,
) -> list[Msg]:
    """Up to ``batch`` messages; waits (up to ``timeout``) for the first one only."""
    msgs: list[Msg] = await _nats_fetch(self, 1, timeout, heartbeat)
    if batch <= 1:
        return msgs
    queue = self._sub._pending_queue
    while len(msgs) < batch and not queue.empty():  # arrived already (for an earlier request)
        msg = queue.get_nowait()
        self._sub._pending_size -= len(msg.data)
        if not JetStreamContext.is_status_msg(msg):  # a status was another request's end
            msgs.append(msg)
    if len(msgs) < batch and _pending_after(msgs[-1]):
        msgs += await _ready(self, batch - len(msgs))
    return msgs


def _pending_after(msg: Msg) -> bool:
    """Whether the server held more for the consumer when it sent ``msg`` (the count
    JetStream puts in each message's reply subject): if not, asking would only fetch its
    "no messages" answer, a request and a reply more per message at a low rate."""
    try:
        return msg.metadata.num_pending > 0
    except Exception:  # not a JetStream message: ask
        return True


async def _ready(sub: Any, n: int) -> list[Msg]:
    """Up to ``n`` messages the server holds now, without waiting for new ones. Never
    raises but for cancellation: the messages already taken go to the consumer."""
    got: list[Msg] = []
    try:
        request = json.dumps({"batch": n, "no_wait": True}).encode()
        await sub._nc.publish(sub._nms, request, sub._deliver)
        deadline = time.monotonic() + ANSWER_SECONDS
        while len(got) < n and (left := deadline - time.monotonic()) > 0:
            msg = await sub._sub.next_msg(timeout=left)
            status = JetStreamContext.is_status_msg(msg)
            if status is None:
                got.append(msg)
            elif not JetStreamContext._is_heartbeat(status):
                break  # no more now (404), or the end of another request
    except asyncio.CancelledError:
        raise
    except Exception:  # a timeout, the connection gone: keep what came
        pass
    return got


def install() -> None:
    """Make every pull subscription of this process fetch this way (FastStream calls the
    subscription's ``fetch``; it has no setting for it). Idempotent."""
    _PullSubscription.fetch = fetch_prompt  # type: ignore[method-assign]
