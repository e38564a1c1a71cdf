"""Prometheus metrics of a service process, and ``GET /metrics``.

Every metric is documented in ``docs/operations.md`` (name, type, labels, meaning, and
the alerts worth setting). Names follow Prometheus conventions: ``safepath_`` prefix,
base units (``_seconds``), counters end in ``_total``.

Labels never carry an identifying value: no case, referral, notification or event id,
no token subject, no provider secret, no raw path. HTTP metrics use the route template
(``/cases/{case_id}``), consumers their durable names, deliveries their channel and an
outcome class; ``label`` guards the free-form ones.

The metrics live in the process's default registry, as ``prometheus_client`` intends (one
service per process in production, so ``service`` is a constant label there; tests run
several services in one process and tell them apart by it). Counters and histograms are
updated where things happen (``shared/app.py``, ``shared/consumer.py``, the relay,
notify's delivery, referral escalation); gauges that need a query are computed when
``/metrics`` is scraped, each probe under a short timeout and at most once a second, so
a scrape can neither hang on a slow database nor be used to hammer it.

``/metrics`` needs no token (like ``/healthz``); it says how busy the service is and
nothing about any person, but it is for the cluster's Prometheus only: do not route it
through the public ingress (see ``docs/operations.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from shared.logging import get_logger
from shared.migrations import quote_ident

if TYPE_CHECKING:
    from shared.runtime import Runtime

log = get_logger("safepath.metrics")

# No ``*_created`` series next to every counter: Prometheus does not need them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds: from a fast read (a few ms) to a slow webhook (the 10 s timeout).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PROBE_TIMEOUT_SECONDS = 2.0
MIN_REFRESH_SECONDS = 1.0
# Lag counts stop at this many events (a count never scans the whole table).
LAG_COUNT_CAP = 100_000
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_SAFE_LABEL = re.compile(r"^[A-Za-z0-9_.:{}/\-]{1,120}$")

# -- HTTP ---------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "safepath_http_requests_total",
    "HTTP requests answered, by route template and status code.",
    ["service", "method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "safepath_http_request_duration_seconds",
    "Time to answer an HTTP request (guard, route and body), by route template.",
    ["service", "method", "route"],
    buckets=LATENCY_BUCKETS,
)

# -- consumers ----------------------------------------------------------------------------

CONSUMER_RECEIVED = Counter(
    "safepath_consumer_messages_received_total",
    "Messages a JetStream consumer received (every delivery, redeliveries included).",
    ["consumer"],
)
CONSUMER_REDELIVERED = Counter(
    "safepath_consumer_messages_redelivered_total",
    "Deliveries of a message JetStream had delivered before (num_delivered > 1).",
    ["consumer"],
)
CONSUMER_ACKED = Counter(
    "safepath_consumer_messages_acked_total",
    "Messages acknowledged: handled (or already handled), or dead-lettered.",
    ["consumer"],
)
CONSUMER_NACKED = Counter(
    "safepath_consumer_messages_nacked_total",
    "Messages handed back for a later redelivery (the handler failed, or a delivery is"
    " still pending).",
    ["consumer"],
)
CONSUMER_DEAD_LETTERS = Counter(
    "safepath_consumer_dead_letters_total",
    "Messages given up: sent to the dead-letter subject (unauthentic, malformed, retries"
    " exhausted).",
    ["consumer", "cause"],
)
CONSUMER_DURATION = Histogram(
    "safepath_consumer_handle_duration_seconds",
    "Time to handle one message, from receipt to ack or nack.",
    ["consumer"],
    buckets=LATENCY_BUCKETS,
)
CONSUMER_PENDING = Gauge(
    "safepath_consumer_pending_messages",
    "Messages on the stream the consumer has not been delivered yet (JetStream"
    " num_pending): consumer lag. Read when /metrics is scraped.",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "safepath_consumer_ack_pending_messages",
    "Messages delivered and not yet acknowledged (JetStream num_ack_pending).",
    ["consumer"],
)

# -- relay, sealer, store -------------------------------------------------------------------

RELAY_PUBLISHED = Counter(
    "safepath_relay_events_published_total",
    "Events the relay published to JetStream (acknowledged by the stream).",
    ["service"],
)
RELAY_LAG_EVENTS = Gauge(
    "safepath_relay_lag_events",
    f"Events committed but not yet published by the relay (counted up to {LAG_COUNT_CAP}).",
    ["service"],
)
RELAY_LAG_SECONDS = Gauge(
    "safepath_relay_lag_seconds",
    "Age of the oldest committed event the relay has not published; 0 when caught up.",
    ["service"],
)
SEALER_LAG_EVENTS = Gauge(
    "safepath_sealer_lag_events",
    f"Events not yet sealed into a signed Merkle checkpoint (counted up to {LAG_COUNT_CAP}).",
    ["service"],
)
SEALER_LAG_SECONDS = Gauge(
    "safepath_sealer_lag_seconds",
    "Age of the oldest event not yet sealed; 0 when every event is sealed.",
    ["service"],
)
OLDEST_OPEN_TRANSACTION = Gauge(
    "safepath_oldest_open_transaction_seconds",
    "Age of the oldest transaction holding a transaction id in the database: it holds"
    " back the relay, the sealer and every global reader.",
    ["service"],
)
PROBE_FAILURES = Counter(
    "safepath_metrics_probe_failures_total",
    "Scrape-time probes that failed or timed out (their gauges keep the last value).",
    ["service", "probe"],
)

# -- notify and referral ---------------------------------------------------------------------

DELIVERIES = Counter(
    "safepath_notify_deliveries_total",
    "Delivery attempts of a notification on one channel, by outcome: ok, http_4xx,"
    " http_5xx, or the transport error (timeout, connection_refused, tls_error, ...).",
    ["channel", "outcome"],
)
DELIVERY_DURATION = Histogram(
    "safepath_notify_delivery_duration_seconds",
    "Time of one delivery attempt on one channel (a webhook POST, a NATS publish).",
    ["channel"],
    buckets=LATENCY_BUCKETS,
)
NOTIFICATIONS_FAILED = Counter(
    "safepath_notify_notifications_failed_total",
    "Notifications given up on a channel after the last attempt (NotificationFailed).",
    ["recipient_kind"],
)
ESCALATIONS = Counter(
    "safepath_referral_escalations_total",
    "Referrals escalated because the provider did not answer in time.",
    ["urgency"],
)
REFERRALS_AWAITING = Gauge(
    "safepath_referrals_awaiting_answer",
    "Referrals sent to a provider and not answered yet, by urgency. Read when scraped.",
    ["urgency"],
)
REFERRALS_OVERDUE = Gauge(
    "safepath_referrals_overdue",
    "Referrals awaiting an answer past their answer time (respond_by), by urgency: the"
    " escalation timer should bring this back to 0 within its interval.",
    ["urgency"],
)


def label(value: str, *, fallback: str = "other") -> str:
    """A label value from code-chosen text (route template, consumer name, outcome):
    anything that does not look like one becomes ``fallback``."""
    return value if _SAFE_LABEL.match(value) else fallback


def method_label(method: str) -> str:
    return method if method in HTTP_METHODS else "other"


def delivery_outcome(status_code: int | None, error_kind: str | None) -> str:
    """``ok`` for a 2xx (or a NATS publish acked), ``http_4xx``/``http_5xx``, else the
    transport error kind."""
    if error_kind:
        return label(error_kind)
    if status_code is None or 200 <= status_code < 300:
        return "ok"
    return f"http_{status_code // 100}xx" if 100 <= status_code < 600 else "http_other"


# -- scrape-time probes -------------------------------------------------------------------

Probe = Callable[["Runtime"], Awaitable[None]]
_probes: dict[str, dict[str, Probe]] = {}


def scrape_probe(service: str, name: str) -> Callable[[Probe], Probe]:
    """Register ``probe`` to run when ``service``'s ``/metrics`` is scraped (a service's
    own gauges, e.g. referrals awaiting an answer)."""

    def register(probe: Probe) -> Probe:
        _probes.setdefault(service, {})[name] = probe
        return probe

    return register


async def _pending(rt: Runtime, after_tx: int, after_position: int) -> tuple[int, float]:
    """Events after a position in the global order: how many (capped), and the age in
    seconds of the first of them (0 when none)."""
    row = await rt.pool.fetchrow(
        f"""SELECT count(*) AS n,
                   coalesce(extract(epoch FROM clock_timestamp() - min(recorded_at)), 0) AS age
            FROM (SELECT recorded_at FROM {quote_ident(rt.store.schema)}.event
                  WHERE (tx_id, global_position) > ($1::text::xid8, $2)
                  ORDER BY tx_id, global_position LIMIT {LAG_COUNT_CAP}) AS pending""",
        str(after_tx),
        after_position,
    )
    return int(row["n"]), max(0.0, float(row["age"]))


async def _relay(rt: Runtime) -> None:
    # The relay saves its position at most once a second; in the replica that runs it,
    # the position acked in memory is the newer.
    cp = max(await rt.store.get_checkpoint(rt.relay.name), rt.relay.acked)
    events, age = await _pending(rt, cp.tx_id, cp.position)
    RELAY_LAG_EVENTS.labels(rt.service).set(events)
    RELAY_LAG_SECONDS.labels(rt.service).set(age)


async def _sealer(rt: Runtime) -> None:
    row = await rt.pool.fetchrow(
        "SELECT body->>'last_tx' AS tx, (body->>'last_position')::bigint AS position"
        f" FROM {quote_ident(rt.store.schema)}.merkle_checkpoint"
        " ORDER BY tree_size DESC LIMIT 1"
    )
    tx, position = (int(row["tx"]), int(row["position"])) if row else (0, 0)
    events, age = await _pending(rt, tx, position)
    SEALER_LAG_EVENTS.labels(rt.service).set(events)
    SEALER_LAG_SECONDS.labels(rt.service).set(age)


async def _transactions(rt: Runtime) -> None:
    OLDEST_OPEN_TRANSACTION.labels(rt.service).set(await rt.store.oldest_open_transaction_seconds())


async def _consumers(rt: Runtime) -> None:
    """num_pending and num_ack_pending of each durable consumer this service runs."""
    for sub in list(rt.broker.subscribers):
        stream = getattr(getattr(sub, "stream", None), "name", None)
        durable = getattr(getattr(sub, "config", None), "durable_name", None)
        if not stream or not durable:
            continue
        info = await rt.js.consumer_info(stream, durable)
        CONSUMER_PENDING.labels(label(durable)).set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.labels(label(durable)).set(info.num_ack_pending or 0)


_STANDARD: dict[str, Probe] = {
    "relay": _relay,
    "sealer": _sealer,
    "transactions": _transactions,
    "consumers": _consumers,
}


class Scraper:
    """Runs the probes of one runtime, at most once per ``MIN_REFRESH_SECONDS``."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._lock = asyncio.Lock()
        self._last = -float("inf")

    async def refresh(self) -> None:
        async with self._lock:  # concurrent scrapes share one refresh
            if time.monotonic() - self._last < MIN_REFRESH_SECONDS:
                return
            probes = {**_STANDARD, **_probes.get(self.rt.service, {})}
            await asyncio.gather(*(self._run(name, p) for name, p in probes.items()))
            self._last = time.monotonic()

    async def _run(self, name: str, probe: Probe) -> None:
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                await probe(self.rt)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            PROBE_FAILURES.labels(self.rt.service, name).inc()
            log.warning("metrics_probe_failed", probe=name, error=type(e).__name__)


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    summary="Prometheus metrics (for the cluster's Prometheus; no token)",
    response_class=Response,
    include_in_schema=False,
)
async def metrics(request: Request) -> Response:
    rt: Any = getattr(request.app.state, "runtime", None)
    if rt is not None:
        scraper = getattr(request.app.state, "metrics_scraper", None)
        if scraper is None or scraper.rt is not rt:
            scraper = request.app.state.metrics_scraper = Scraper(rt)
        with contextlib.suppress(TimeoutError):
            await scraper.refresh()
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
