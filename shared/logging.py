"""structlog configured once: JSON lines for machines, a console renderer in a terminal.

Standard-library loggers (asyncpg, nats, uvicorn) are routed through the same
processors, so every line is structured and carries the bound correlation id. FastStream's
broker logger (``faststream.access.nats``) keeps its own handler and format; what it says
about conditions it recovers from by itself is toned down by ``ExpectedRetries``.
Identifying data must never be logged: log ids and codes, never names or narratives.

Levels: ERROR means an operator must act; an expected, retried condition (a pull that
timed out with nothing to fetch, a connection lost while NATS restarts) is one line at
INFO or WARNING, without a traceback (docs/operations.md, "Logs").
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import nats.errors
import nats.js.errors
import structlog

_configured = False


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    global _configured
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access",):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    install_expected_retries()
    _configured = True


# FastStream's NATS broker logs through ``faststream.access.nats`` (its own handler and
# format, not propagated to the root). Three of its lines are about conditions it recovers
# from by itself, yet read as failures:
#
# * "Task-NN raised an exception, retrying..." at ERROR with a traceback: its supervisor
#   restarts a subscriber's consume task that ended with an exception. With nats-py 2.16 a
#   pull ``fetch`` of more than one message that finds nothing within its timeout can raise
#   a bare ``asyncio.TimeoutError``; FastStream 0.7's consume loop suppresses only
#   ``nats.errors.TimeoutError`` (a subclass), so an idle notify delivery consumer ended
#   its task and the supervisor printed this at ERROR. A connection closed or reconnecting
#   while NATS restarts ends the task the same way. Nothing is lost: the task is restarted
#   at once and the messages stay in the durable consumer.
# * "Connection broken with UnexpectedEOF()" at WARNING, followed by the traceback of the
#   error the line already names; nats-py reconnects by itself.
# * "callback for Task-NN is being executed..." at INFO whenever a consume task ends.
#
# A filter on that logger rewrites these records in place, rather than patching
# FastStream's consume loop: that is private code which changes between releases, while the
# filter depends only on the message text and the exception type, and fails loud: if a
# release rewords the message, the filter no longer matches and the line stays at ERROR
# with its traceback. Anything else (an exception not listed below, a task that "won't be
# restarted") keeps its ERROR and traceback.

FASTSTREAM_LOGGERS = ("faststream.access.nats",)

# Retried conditions of a quiet or restarting NATS: a timeout is routine (INFO), a lost or
# reconnecting connection is worth noticing but needs no action (WARNING).
_ROUTINE: tuple[type[BaseException], ...] = (TimeoutError,)  # asyncio's and nats-py's too
_RECONNECTING: tuple[type[BaseException], ...] = (
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.StaleConnectionError,  # UnexpectedEOF too
    nats.errors.OutboundBufferLimitError,
    nats.errors.NoRespondersError,  # JetStream not answering yet after a restart
    nats.js.errors.ServiceUnavailableError,
)
_RETRYING = re.compile(r"(?P<task>\S+) raised an exception, retrying\.\.\.")
_TASK_ENDED = re.compile(r"callback for \S+ is being executed\.\.\.$")
_CONNECTION_BROKEN = "Connection broken with "


class ExpectedRetries(logging.Filter):
    """Turns FastStream's lines about conditions it retries into one calm line each."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        exc = record.exc_info[1] if record.exc_info else None
        if _TASK_ENDED.match(message):
            # Routine bookkeeping: shown only to whoever asks for DEBUG.
            _set_level(record, logging.DEBUG)
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        if (m := _RETRYING.match(message)) and isinstance(exc, _ROUTINE + _RECONNECTING):
            level = logging.INFO if isinstance(exc, _ROUTINE) else logging.WARNING
            _set_level(record, level)
            _one_line(
                record,
                f"{m['task']} (NATS consume task) ended on {_describe(exc)}; restarted",
            )
        elif message.startswith(_CONNECTION_BROKEN) and isinstance(exc, nats.errors.Error):
            _one_line(record, f"{message}; reconnecting")
        return True


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _set_level(record: logging.LogRecord, level: int) -> None:
    record.levelno = level
    record.levelname = logging.getLevelName(level)


def _one_line(record: logging.LogRecord, message: str) -> None:
    record.msg, record.args = message, ()
    record.exc_info, record.exc_text, record.stack_info = None, None, None


def install_expected_retries() -> None:
    """Put ``ExpectedRetries`` on FastStream's broker logger (once; idempotent). The
    logger object is shared by name, so this works before or after the broker is built."""
    for name in FASTSTREAM_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ExpectedRetries) for f in logger.filters):
            logger.addFilter(ExpectedRetries())


def get_logger(name: str | None = None) -> Any:
    return structlog.stdlib.get_logger(name)
