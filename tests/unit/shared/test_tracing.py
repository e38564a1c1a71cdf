"""Trace context on events (``shared/tracing.py``): kept in the metadata of an append made
inside a span, put on the envelope (before signing), continued by the consumer; absent
everywhere when there is no trace. The three services in one trace: tests/integration/
observability/test_one_trace.py."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from shared import tracing
from shared.envelope import Actor, Envelope, dataschema_for
from shared.events.case import CaseOpened
from shared.eventstore import EventStore, NewEvent, StoredEvent
from shared.settings import Settings
from shared.signatures import BadSignature, EventSigner, EventVerifier, new_signing_key, public_b64

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)


def opened() -> CaseOpened:
    return CaseOpened(
        caseworker="caseworker-1", office="khujand-nrm", region="sughd", categories=["trafficking"]
    )


def envelope(**trace: str) -> Envelope:
    event = opened()
    return Envelope(
        id="0190a000-0000-7000-8000-000000000001",
        source="safepath/case",
        type=event.type_name(),
        subject="case-1",
        time=datetime(2026, 1, 1, tzinfo=UTC),
        dataschema=dataschema_for(event.type_name()),
        streamversion=1,
        correlationid="c-1",
        actor="caseworker:caseworker-1",
        data=event.model_dump(mode="json"),
        **trace,  # type: ignore[arg-type]
    )


def prepared_metadata() -> dict[str, Any]:
    store = EventStore(None, "case")  # type: ignore[arg-type]  # _prepare does no I/O
    row = store._prepare("case-1", 1, NewEvent(opened(), Actor.service("case"), "c-1"))
    return row.meta


def test_an_event_without_a_trace_looks_as_it_did() -> None:
    doc = envelope().to_dict()
    assert "traceparent" not in doc and "tracestate" not in doc
    assert prepared_metadata() == {"actor": "service:case", "correlationid": "c-1"}


def test_the_signature_covers_the_trace_context() -> None:
    seed = new_signing_key()
    verifier = EventVerifier.from_text(f"case={public_b64(seed)}", "ns")
    doc = EventSigner(seed).sign(envelope(traceparent=TRACEPARENT, tracestate="v=1").to_dict())
    assert verifier.verify_doc(doc) == "case"
    assert Envelope.model_validate(doc).traceparent == TRACEPARENT  # extra="forbid" takes it
    forged = {**doc, "traceparent": TRACEPARENT.replace("b7ad", "0000")}
    with pytest.raises(BadSignature):
        verifier.verify_doc(forged)


def test_an_append_inside_a_span_keeps_its_traceparent(spans: InMemorySpanExporter) -> None:
    with tracing.tracer("case").start_as_current_span("POST /cases") as span:
        meta = prepared_metadata()
    ctx = span.get_span_context()
    assert meta["traceparent"] == f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
    stored = StoredEvent(1, 1, None, "case-1", 1, opened().type_name(),  # type: ignore[arg-type]
                         datetime.now(UTC), {}, meta, None, b"")  # fmt: skip
    assert stored.to_envelope("case").traceparent == meta["traceparent"]


def test_relay_and_consumer_continue_the_trace(spans: InMemorySpanExporter) -> None:
    with tracing.tracer("case").start_as_current_span("POST /cases") as request:
        fields = tracing.current_trace_fields()
    with tracing.publishing("case", "NS_CASE", envelope(**fields)) as published:
        pass
    # Published exactly as stored (a lost event is rebuilt from the stream).
    assert published.traceparent == fields["traceparent"]
    with tracing.consuming("referral", "referral-case-events", published) as consumed:
        child_fields = tracing.current_trace_fields()
    relay_span, consumer_span = spans.get_finished_spans()[-2:]
    trace_id = request.get_span_context().trace_id
    assert {s.context.trace_id for s in (relay_span, consumer_span)} == {trace_id}
    assert relay_span.kind == SpanKind.PRODUCER and consumer_span.kind == SpanKind.CONSUMER
    assert relay_span.parent is not None and consumer_span.parent is not None
    assert relay_span.parent.span_id == request.get_span_context().span_id
    assert consumer_span.parent.span_id == request.get_span_context().span_id
    assert consumed.get_span_context().span_id == consumer_span.context.span_id
    assert child_fields["traceparent"].split("-")[1] == f"{trace_id:032x}"
    # Span attributes name no case or event id.
    for s in (relay_span, consumer_span):
        assert "case-1" not in str(dict(s.attributes or {}))


def test_an_event_without_a_trace_starts_no_span(spans: InMemorySpanExporter) -> None:
    with tracing.publishing("case", "NS_CASE", envelope()) as env:
        assert env.traceparent is None
    with tracing.consuming("referral", "referral-case-events", envelope()):
        assert tracing.current_trace_fields() == {}
    assert spans.get_finished_spans() == ()


def test_without_a_provider_the_context_still_travels() -> None:
    """No SDK (tracing off): the API's no-op spans pass a context they were given on,
    and start none of their own."""
    with tracing.consuming("referral", "x", envelope(traceparent=TRACEPARENT)):
        assert tracing.current_trace_fields() == {"traceparent": TRACEPARENT}
    assert prepared_metadata() == {"actor": "service:case", "correlationid": "c-1"}


def test_tracing_is_off_unless_an_endpoint_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in tracing.STANDARD_ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("SAFEPATH_OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert tracing.exporter_endpoint(Settings(environment="test")) is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")
    assert tracing.exporter_endpoint(Settings(environment="test")) == "http://collector:4318"
    monkeypatch.setenv("SAFEPATH_OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318")
    assert tracing.exporter_endpoint(Settings(environment="test")) == "http://other:4318"
