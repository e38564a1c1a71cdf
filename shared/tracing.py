"""OpenTelemetry traces: one referral is one trace across the three services.

The trace context travels with the events themselves, as the CloudEvents
distributed-tracing extension (``traceparent``, optional ``tracestate``):

1. An HTTP request runs in a server span (``shared/app.py``); the events a command
   appends inside it keep the span's ``traceparent`` in their metadata
   (``EventStore._prepare``), so it is part of what the hash chain protects.
2. The relay publishes each such event in a producer span, child of that context, and
   puts the producer span's ``traceparent`` on the envelope *before* signing it.
3. A consumer handles the event in a consumer span, child of the envelope's
   ``traceparent``; the events its handler appends carry the consumer span on.
4. notify's delivery round and each channel (webhook POST, NATS publish) are spans too.

Off by default: without ``SAFEPATH_OTEL_EXPORTER_OTLP_ENDPOINT`` (or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) no SDK is
loaded and the API's tracer is a no-op that only passes a context it was given along.
Spans never carry identifying values: no case, referral or notification id, no URL, no
token subject; route templates, event types, consumer names and outcomes only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, Tracer, TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from shared.logging import get_logger

if TYPE_CHECKING:
    from shared.envelope import Envelope
    from shared.settings import Settings

log = get_logger("safepath.tracing")

TRACE_FIELDS = ("traceparent", "tracestate")
STANDARD_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

_PROPAGATOR = TraceContextTextMapPropagator()
# Where spans go: a provider set here (tests), else the global one (the SDK's when
# ``configure_tracing`` installed it, else the API's no-op).
_provider: TracerProvider | None = None
_configured: TracerProvider | None = None


def use_provider(provider: TracerProvider | None) -> None:
    """Send this process's spans to ``provider`` (``None``: back to the global provider).
    For tests, which cannot replace the global provider more than once per process."""
    global _provider
    _provider = provider


# Tracers already asked for, per provider: ``get_tracer`` built a new one on every call
# (on every request and every consumed event, about 1% of the case service under intake).
_tracers: dict[tuple[TracerProvider, str], Tracer] = {}


def tracer(service: str) -> Tracer:
    """The tracer of one service's code (instrumentation scope ``safepath.<service>``)."""
    provider = _provider or trace.get_tracer_provider()
    found = _tracers.get((provider, service))
    if found is None:
        found = _tracers[(provider, service)] = provider.get_tracer(f"safepath.{service}")
    return found


def exporter_endpoint(settings: Settings) -> str | None:
    """Where traces are exported, or ``None`` when tracing is off."""
    if settings.otel_exporter_otlp_endpoint:
        return settings.otel_exporter_otlp_endpoint
    for name in STANDARD_ENDPOINT_VARIABLES:
        if os.environ.get(name):
            return os.environ[name]
    return None


def configure_tracing(service: str, settings: Settings) -> bool:
    """Install the SDK with an OTLP/HTTP exporter when an endpoint is configured; once per
    process. True when traces are exported."""
    global _configured
    if _configured is not None:
        return True
    endpoint = exporter_endpoint(settings)
    if endpoint is None:
        return False
    # Imported only here: a process without an endpoint never loads the SDK.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    if settings.otel_exporter_otlp_endpoint:
        # Like OTEL_EXPORTER_OTLP_ENDPOINT: the collector's base URL, traces under /v1/traces.
        exporter = OTLPSpanExporter(
            endpoint=settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        )
    else:
        exporter = OTLPSpanExporter()  # reads the standard OTEL_EXPORTER_OTLP_* variables
    provider = SdkTracerProvider(
        resource=Resource.create(
            {"service.name": f"safepath-{service}", "service.namespace": "safepath"}
        )
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = provider
    log.info("tracing_enabled", exporter="otlp-http")
    return True


def flush_tracing(timeout_seconds: float = 5.0) -> None:
    """Export what is buffered (at shutdown); nothing when tracing is off."""
    provider: Any = _configured
    if provider is not None:
        provider.force_flush(int(timeout_seconds * 1000))


# -- context ----------------------------------------------------------------------------


def current_trace_fields() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current span; empty without one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return {}  # what the propagator writes then, found without it (every append asks)
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return {k: carrier[k] for k in TRACE_FIELDS if carrier.get(k)}


def context_from(fields: Mapping[str, Any]) -> Context | None:
    """The context a ``traceparent``/``tracestate`` pair names (headers, metadata, an
    envelope's fields); ``None`` when there is none."""
    carrier = {k: v for k in TRACE_FIELDS if isinstance(v := fields.get(k), str) and v}
    if "traceparent" not in carrier:
        return None
    return _PROPAGATOR.extract(carrier)


def envelope_fields(env: Envelope) -> dict[str, str]:
    return {k: v for k in TRACE_FIELDS if (v := getattr(env, k, None))}


@contextmanager
def consuming(service: str, consumer: str, env: Envelope) -> Iterator[Span]:
    """The span of handling one event: child of the envelope's ``traceparent``, so what the
    handler appends continues the trace. Events without one start no span."""
    parent = context_from(envelope_fields(env))
    if parent is None:
        yield trace.INVALID_SPAN
        return
    with tracer(service).start_as_current_span(
        f"{consumer} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "process",
            "messaging.consumer.group.name": consumer,
            "cloudevents.event_type": env.type,
            "safepath.service": service,
        },
    ) as span:
        yield span


@contextmanager
def publishing(service: str, stream: str, env: Envelope) -> Iterator[Envelope]:
    """The relay's span of publishing one event, child of the ``traceparent`` its append
    stored. The envelope is yielded unchanged: what is published is exactly what is
    stored (``safepath recover`` rebuilds lost events from the stream, and the audit
    compares them), so consumers continue the append's span, beside this one."""
    parent = context_from(envelope_fields(env))
    if parent is None:
        yield env
        return
    with tracer(service).start_as_current_span(
        f"{stream} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={
            "messaging.system": "nats",
            "messaging.operation.type": "publish",
            "messaging.destination.name": stream,
            "cloudevents.event_type": env.type,
            "safepath.service": service,
        },
    ):
        yield env


@contextmanager
def continuing(
    service: str, name: str, fields: Mapping[str, Any], kind: SpanKind = SpanKind.INTERNAL
) -> Iterator[Span]:
    """A span continuing the trace named by ``fields`` (e.g. a stream's last event's
    metadata), or a new trace when they name none."""
    with tracer(service).start_as_current_span(
        name,
        context=context_from(fields),
        kind=kind,
        attributes={"safepath.service": service},
    ) as span:
        yield span


def trace_id_of(span: Span) -> str | None:
    ctx = span.get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


def log_fields() -> dict[str, str]:
    """``trace_id`` of the current span for log lines (empty without a valid span)."""
    trace_id = trace_id_of(trace.get_current_span())
    return {"trace_id": trace_id} if trace_id else {}
