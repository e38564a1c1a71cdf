"""Metric names and labels (``shared/metrics.py``, ``shared/observability.py``):
Prometheus conventions, every metric documented, and no identifying value in a label.
The metrics of a running service are scraped in tests/integration/observability."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from prometheus_client import REGISTRY

from shared import metrics
from shared.guard import GuardConfig, RequestGuard
from shared.observability import RequestObservability

OPERATIONS_DOC = Path(__file__).parents[3] / "docs" / "operations.md"
# Code-chosen values only: never an id, a subject, a secret or a raw path.
ALLOWED_LABELS = {
    "service",
    "method",
    "route",
    "status",
    "consumer",
    "cause",
    "channel",
    "outcome",
    "recipient_kind",
    "urgency",
    "probe",
}


def families() -> dict[str, tuple[str, set[str]]]:
    """Each ``safepath_`` metric as exposed: name -> (type, label names)."""
    found: dict[str, tuple[str, set[str]]] = {}
    for family in REGISTRY.collect():
        if not family.name.startswith("safepath_"):
            continue
        name = family.name + ("_total" if family.type == "counter" else "")
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        found[name] = (family.type, labels)
    return found


def test_names_follow_prometheus_conventions() -> None:
    found = families()
    assert {"safepath_http_requests_total", "safepath_relay_lag_seconds"} <= found.keys()
    for name, (kind, _) in found.items():
        assert re.fullmatch(r"safepath_[a-z][a-z0-9_]*[a-z]", name), name
        if kind == "counter":
            assert name.endswith("_total"), name
        else:
            assert not name.endswith("_total"), name
        if kind == "histogram":
            assert name.endswith("_seconds"), name  # base unit
        assert "_milliseconds" not in name and "_ms" not in name, name


def test_labels_are_code_chosen_never_identifying() -> None:
    # Every label of every family (labelled series exist once something was counted).
    declared = {
        m._name: set(m._labelnames)  # type: ignore[attr-defined]
        for m in vars(metrics).values()
        if isinstance(m, metrics.Counter | metrics.Gauge | metrics.Histogram)
    }
    assert len(declared) >= 20
    for name, labels in declared.items():
        assert labels <= ALLOWED_LABELS, (name, labels - ALLOWED_LABELS)


def test_every_metric_is_documented_in_operations_md() -> None:
    doc = OPERATIONS_DOC.read_text()
    names = {
        m._name + ("_total" if isinstance(m, metrics.Counter) else "")  # type: ignore[attr-defined]
        for m in vars(metrics).values()
        if isinstance(m, metrics.Counter | metrics.Gauge | metrics.Histogram)
    }
    missing = sorted(n for n in names if f"`{n}`" not in doc)
    assert not missing, f"not in docs/operations.md: {missing}"


def test_free_text_never_becomes_a_label() -> None:
    assert metrics.label("/cases/{case_id}") == "/cases/{case_id}"
    assert metrics.label("notify-deliver-NotificationQueued") == "notify-deliver-NotificationQueued"
    assert metrics.label("Zarina Qodirova") == "other"
    assert metrics.label("x" * 200) == "other"
    assert metrics.label("") == "other"
    assert metrics.method_label("GET") == "GET"
    assert metrics.method_label("PROPFIND") == "other"


@pytest.mark.parametrize(
    ("status", "error", "outcome"),
    [
        (200, None, "ok"),
        (204, None, "ok"),
        (None, None, "ok"),  # a NATS publish acked
        (404, None, "http_4xx"),
        (503, None, "http_5xx"),
        (None, "timeout", "timeout"),
        (None, "connection_refused", "connection_refused"),
        (999, None, "http_other"),
    ],
)
def test_a_delivery_outcome_is_a_class_not_a_value(
    status: int | None, error: str | None, outcome: str
) -> None:
    assert metrics.delivery_outcome(status, error) == outcome


# -- HTTP metrics, by route template --------------------------------------------------------


@pytest.fixture
async def client() -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """A small app put together as ``create_service_app`` does: the guard inside, the
    observability middleware outside, ``/metrics`` public. No runtime: no probes run."""
    service = f"unit{uuid.uuid4().hex[:8]}"
    router = APIRouter()

    @router.get("/cases/{case_id}")
    async def read(case_id: str) -> dict[str, str]:
        return {"ok": "yes"}

    app = FastAPI()
    app.include_router(router)
    app.include_router(metrics.router)
    app.add_middleware(RequestGuard, config=GuardConfig(public_paths=frozenset({"/metrics"})))
    app.add_middleware(RequestObservability, service=service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c, service


def count(service: str, route: str, status: str, method: str = "GET") -> float:
    labels = {"service": service, "method": method, "route": route, "status": status}
    return REGISTRY.get_sample_value("safepath_http_requests_total", labels) or 0.0


async def test_requests_are_counted_by_route_template_never_by_path(
    client: tuple[httpx.AsyncClient, str],
) -> None:
    c, service = client
    case_id = str(uuid.uuid4())
    other = str(uuid.uuid4())
    # Refused by the guard (no token) before any route ran: still its template.
    assert (await c.get(f"/cases/{case_id}")).status_code == 401
    assert (await c.get(f"/nowhere/{other}")).status_code == 401
    assert (await c.post(f"/cases/{case_id}")).status_code == 401
    scrape = await c.get("/metrics")  # public: no token
    assert scrape.status_code == 200
    assert scrape.headers["content-type"].startswith("text/plain")
    text = scrape.text
    assert count(service, "/cases/{case_id}", "401") == 1
    assert count(service, "unmatched", "401") == 1
    assert count(service, "/cases/{case_id}", "401", method="POST") == 1
    for value in (case_id, other, "/nowhere"):
        assert value not in text
    histogram = "safepath_http_request_duration_seconds_count"
    assert f'{histogram}{{method="GET",route="/cases/{{case_id}}",service="{service}"}} 1.0' in text


async def test_a_scrape_is_counted_too(client: tuple[httpx.AsyncClient, str]) -> None:
    c, service = client
    await c.get("/metrics")
    await c.get("/metrics")
    assert count(service, "/metrics", "200") >= 1


async def test_every_service_app_serves_metrics_without_a_token() -> None:
    """As ``create_service_app`` composes it (before start-up, so no probe runs): the
    guard lets ``/metrics`` through like ``/healthz``, anything else still needs a token,
    and FastAPI's own telemetry (a second span with the raw path) is off."""
    from shared.app import create_service_app
    from shared.settings import Settings

    app = create_service_app(
        "case",
        title="t",
        description="d",
        wire=lambda rt: None,
        settings=Settings(environment="test"),
    )
    assert not any(app._telemetry.get(k) for k in ("tracing", "metrics", "logs"))  # type: ignore[attr-defined]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        r = await c.get("/metrics")
        assert r.status_code == 200
        assert "safepath_http_requests_total" in r.text
        assert (await c.get("/audit/verify")).status_code == 401
    assert "/metrics" not in app.openapi()["paths"]
