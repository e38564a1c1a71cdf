"""An idle pull consumer on a real NATS server logs no ERROR (issue 11, item 8).

With nats-py 2.16 a pull ``fetch`` of several messages that finds none can end in a bare
``asyncio.TimeoutError`` that FastStream 0.7's consume loop does not catch; its supervisor
restarts the task and used to log "Task-NN raised an exception, retrying..." at ERROR with
a traceback. A short fetch timeout makes that race frequent. ``shared/logging.py``
(``ExpectedRetries``, installed by ``configure_logging`` in every service) turns it into
one INFO line; the consumer keeps consuming. The filter itself: tests/unit/shared/
test_logging.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import pytest
from faststream.nats import JStream, NatsBroker, PullSub
from faststream.nats.security import NatsCredentials
from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from shared.logging import FASTSTREAM_LOGGERS, install_expected_retries
from shared.natsauth import inbox_prefix
from tests.conftest import credentials
from tests.servers import Servers


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.retried = asyncio.Event()  # FastStream logs on the event loop's thread

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if retried([record]):
            self.retried.set()


@pytest.fixture
def broker_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[Records]:
    monkeypatch.setenv("FASTSTREAM_SUPERVISOR_CACHE_TTL", "0")  # each time, not once an hour
    install_expected_retries()  # what configure_logging does in every service
    handler = Records()
    lg = logging.getLogger(FASTSTREAM_LOGGERS[0])
    lg.addHandler(handler)
    yield handler
    lg.removeHandler(handler)


def retried(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    return [
        r
        for r in records
        if "raised an exception" in r.getMessage() or "NATS consume task" in r.getMessage()
    ]


async def test_an_idle_pull_consumer_logs_no_error(
    servers: Servers, nats_url: str, js: JetStreamContext, namespace: str, broker_log: Records
) -> None:
    stream = f"{namespace}_IDLE".upper()
    await js.add_stream(StreamConfig(name=stream, subjects=[f"{namespace}.idle.>"]))
    got: list[str] = []
    received = asyncio.Event()
    broker = NatsBroker(
        nats_url,
        security=NatsCredentials(credentials(servers, "setup", namespace)),
        inbox_prefix=inbox_prefix("setup"),
    )

    @broker.subscriber(
        f"{namespace}.idle.>",
        stream=JStream(stream, declare=False),
        durable="idle",
        pull_sub=PullSub(batch_size=5, timeout=0.05),  # as notify's delivery consumer, faster
    )
    async def handle(body: str) -> None:
        got.append(body)
        received.set()

    await broker.start()
    try:
        # The race usually shows within a second or two; a run without it still checks
        # that nothing was logged at ERROR.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(broker_log.retried.wait(), 10)
        await asyncio.sleep(0.5)
        await js.publish(f"{namespace}.idle.one", b'"still consuming"')
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(received.wait(), 10)
    finally:
        await broker.stop()

    assert got == ["still consuming"]
    errors = [r for r in broker_log.records if r.levelno >= logging.ERROR]
    assert errors == [], [r.getMessage() for r in errors]
    for r in retried(broker_log.records):
        assert r.levelno == logging.INFO and r.exc_info is None
        assert "\n" not in r.getMessage()
