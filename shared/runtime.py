"""What every service process runs around its own code: pool, NATS, store, relay, consumers.

``start_runtime`` is the one place resources are created (never at import time);
``stop_runtime`` shuts them down in reverse order so in-flight work finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared import bus
from shared.consumer import DeadLetters, IdempotentConsumer, subscribe
from shared.envelope import schema_base
from shared.eventstore import EventStore
from shared.installation import with_local_bus_identity
from shared.jetstream import dead_letter_subject, require_streams
from shared.lease import hold
from shared.logging import get_logger
from shared.migrations import apply_migrations
from shared.natsauth import inbox_prefix
from shared.relay import Relay
from shared.sealer import Sealer, load_signing_key
from shared.settings import Settings
from shared.signatures import EventSigner, EventVerifier

log = get_logger("safepath.runtime")

SERVICE_NAMES = ("case", "referral", "notify")


async def keep_session(conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing beyond asyncpg's own (an open transaction is
    rolled back, listener callbacks dropped). The default reset query (unlock all
    advisory locks, close cursors, unlisten, reset settings) ran on every release and
    was half of all statements; this code leaves none of those behind: cursors live in
    transactions, locks are transaction-scoped or released explicitly, settings are
    ``SET LOCAL`` or per pool, and the relay unlistens before it releases."""


@dataclass
class Runtime:
    service: str
    settings: Settings
    pool: asyncpg.Pool
    nc: NATS
    js: JetStreamContext
    store: EventStore
    relay: Relay
    broker: NatsBroker
    verifier: EventVerifier
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    sealer: Sealer | None = None

    @property
    def stream(self) -> str:
        return self.settings.stream_name(self.service)

    def stream_of(self, service: str) -> str:
        return self.settings.stream_name(service)

    def subjects_of(self, service: str) -> str:
        return f"{self.settings.subject_root(service)}.>"

    @property
    def subscriber_inbox(self) -> bytes:
        """Where this service's pull consumers receive messages (its own inbox prefix)."""
        return (inbox_prefix(self.service) + ".").encode()

    def dead_letters(self, consumer: str) -> DeadLetters:
        return DeadLetters(self.js, dead_letter_subject(self.settings.namespace, consumer))

    def lease(self, role: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run`` (until cancelled) in this replica only while it holds the lease of
        ``role`` (``shared/lease.py``): one relay, one sealer, one timer per service."""
        assert self.settings.database_url is not None
        name = f"{self.settings.namespace}.{self.service}.{role}"
        self.tasks.append(
            asyncio.create_task(
                hold(self.settings.database_url, name, run), name=f"{self.service}-{role}"
            )
        )

    def consume(self, consumer: IdempotentConsumer, source: str, **options: Any) -> None:
        """Subscribe ``consumer`` (durable name = its name) to ``source``'s events, with
        this service's verifier, inbox and dead letters: no wiring can leave one out."""
        subscribe(
            self.broker,
            consumer,
            self.dead_letters(consumer.name),
            stream=self.stream_of(source),
            subject=self.subjects_of(source),
            durable=consumer.name,
            verifier=self.verifier,
            inbox_prefix=self.subscriber_inbox,
            **options,
        )


async def start_runtime(
    service: str,
    settings: Settings,
    *,
    migrations: Sequence[Path] = (),
    wire: Callable[[Runtime], None] | None = None,
) -> Runtime:
    """Connect as the service's own identity, migrate, wait for the streams (declared by
    setup), start the relay and the sealer, let ``wire`` add consumers."""
    if settings.database_url is None or settings.nats_url is None:
        raise RuntimeError("SAFEPATH_DATABASE_URL and SAFEPATH_NATS_URL must be set")
    settings.check_production()
    settings = with_local_bus_identity(settings, service)
    settings.check_bus()
    schema_base()  # a malformed SAFEPATH_SCHEMA_BASE_URL stops start-up, not each publish
    assert settings.event_signing_key is not None and settings.event_verify_keys is not None
    signer = EventSigner(settings.event_signing_key)
    verifier = EventVerifier.from_text(settings.event_verify_keys, settings.namespace)
    pool = await asyncpg.create_pool(
        settings.database_url,
        reset=keep_session,
        min_size=2,
        max_size=settings.database_pool_max,
        server_settings={
            "idle_in_transaction_session_timeout": str(settings.idle_in_transaction_timeout_ms),
            "application_name": f"safepath-{service}",
        },
    )
    async with pool.acquire() as conn:
        applied = await apply_migrations(conn, service, migrations)
    if applied:
        log.info("migrations_applied", service=service, files=applied)
    # The service's own identity: it may publish its own subjects and use its own
    # consumers, nothing more. Streams are declared by the setup identity beforehand.
    # One connection per process: FastStream's broker holds it (credentials and inbox
    # prefix from ``bus.broker_options``); the relay, the sealer and the dead letters
    # publish through its JetStream context.
    broker = bus.service_broker(settings, service)
    nc = await broker.connect()
    js = nc.jetstream(timeout=5.0)
    bus.declare_publications(broker, settings, service)
    await require_streams(js, settings, service)
    store = EventStore(pool, service)
    relay = Relay(
        store,
        js,
        subject_root=settings.subject_root(service),
        stream=settings.stream_name(service),
        batch=settings.relay_batch,
        poll_seconds=settings.relay_poll_seconds,
        signer=signer,
    )
    rt = Runtime(service, settings, pool, nc, js, store, relay, broker, verifier)
    if wire is not None:
        wire(rt)
    # One active relay and sealer per service, whatever the number of replicas.
    rt.lease("relay", relay.run)
    sealer = Sealer(
        store,
        js,
        load_signing_key(settings.audit_signing_key),
        namespace=settings.namespace,
        interval_seconds=settings.seal_interval_seconds,
        audit_stream=settings.audit_stream,
    )
    rt.sealer = sealer
    rt.lease("sealer", sealer.run)
    if broker.subscribers:
        await broker.start()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # not on the main thread
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, dump_tasks)
    log.info("service_started", service=service)
    return rt


def dump_tasks() -> None:
    """``kill -USR1 <pid>``: log where every task of the process waits (one line each,
    outermost call first, down the chain of awaits), for an operator or a test looking
    at a service that seems stuck."""
    for task in asyncio.all_tasks():
        log.warning("task_waiting", task=task.get_name(), where=" > ".join(_awaiting(task)))


def _awaiting(task: asyncio.Task[Any]) -> list[str]:
    chain: list[str] = []
    coro: Any = task.get_coro()
    while coro is not None and len(chain) < 30:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            chain.append(f"{frame.f_code.co_name}:{frame.f_lineno}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return chain


async def cancel_until_done(task: asyncio.Task[Any], every: float = 1.0) -> None:
    """Cancel ``task`` and wait until it has ended, cancelling again every ``every``
    seconds: a cancellation that arrives while a call inside ``asyncio.wait_for``
    completes is lost (Python 3.11; nats-py's requests are such calls), and one cancel
    then leaves the task running. Its outcome, whatever it is, is consumed."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=every)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def stop_runtime(rt: Runtime) -> None:
    # Subscribers first (handlers in flight finish on the open connection), then the
    # relay, sealer and other tasks, then the one connection (``broker.stop`` drains it).
    for sub in rt.broker.subscribers:
        with contextlib.suppress(Exception):
            await sub.stop()
    for t in rt.tasks:
        await cancel_until_done(t)
    with contextlib.suppress(Exception):
        await rt.broker.stop()
    await rt.pool.close()
    log.info("service_stopped", service=rt.service)


async def readiness(rt: Runtime) -> dict[str, Any]:
    """Postgres and NATS reachable, and how far global readers may be held back."""
    checks: dict[str, Any] = {}
    try:
        async with asyncio.timeout(2):
            await rt.pool.fetchval("SELECT 1")
            checks["postgres"] = "ok"
            checks["oldest_open_transaction_seconds"] = round(
                await rt.store.oldest_open_transaction_seconds(), 3
            )
    except Exception as e:
        checks["postgres"] = f"unavailable: {type(e).__name__}"
    checks["nats"] = "ok" if rt.nc.is_connected else "unavailable"
    checks["relay_published"] = rt.relay.published
    # Set while this replica's relay refuses to publish (store restored behind the stream).
    if rt.relay.blocked is not None:
        checks["relay"] = rt.relay.blocked
    return checks
