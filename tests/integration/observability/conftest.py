"""The three services in one process, on this test's database and namespace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from services.case.main import create_app as create_case_app
from services.notify.config import NotifySettings
from services.notify.main import create_app as create_notify_app
from services.referral.config import ReferralSettings
from services.referral.main import create_app as create_referral_app
from shared import tracing
from shared.auth import AuthConfig, mint_token
from shared.settings import Settings


@dataclass
class System:
    case: httpx.AsyncClient
    referral: httpx.AsyncClient
    notify: httpx.AsyncClient
    settings: Settings

    def token(self, role: str, sub: str | None = None, **claims: Any) -> dict[str, str]:
        config = AuthConfig.from_settings(self.settings)
        return {"Authorization": f"Bearer {mint_token(config, sub or role, role, **claims)}"}


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span of every service in this process, in memory."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        yield exporter
    finally:
        tracing.use_provider(None)
        provider.shutdown()


async def _stop_tasks(app: FastAPI) -> None:
    """Cancel the background tasks until done before the lifespan ends (see
    tests/integration/referral/conftest.py: a cancellation can be swallowed once)."""
    for task in app.state.runtime.tasks:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.05)


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        try:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
                yield c
        finally:
            await _stop_tasks(app)


@pytest.fixture
async def system(service_settings: Callable[..., Settings]) -> AsyncIterator[System]:
    notify = create_notify_app(
        service_settings("notify"),
        NotifySettings(
            backoff_seconds=[0.2, 0.2],
            webhook_timeout_seconds=2.0,
            nats_timeout_seconds=2.0,
            webhook_allow_hosts="127.0.0.1",
        ),
    )
    referral = create_referral_app(
        service_settings("referral"), ReferralSettings(escalation_interval_seconds=0.2)
    )
    case = create_case_app(service_settings("case"))
    async with AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(running(a)) for a in (notify, referral, case)]
        yield System(clients[2], clients[1], clients[0], service_settings("case"))


BUSTON = "women-and-society-shelter-buston"  # the shelter for Khujand in the directory


@dataclass
class Referred:
    case_id: str
    request_id: str


async def refer_to_shelter(system: System, receiver_url: str) -> Referred:
    """The shelter registers its webhook; a caseworker opens a case in Khujand, records
    consent and asks for shelter: routed to the Buston shelter, notified on its webhook."""
    from tests.integration.case.stories import give_referral_consent, open_case
    from tests.integration.notify.stories import eventually

    async def register() -> httpx.Response:
        return await system.notify.put(
            f"/providers/{BUSTON}/webhook",
            json={"url": receiver_url},
            headers=system.token("provider", provider_id=BUSTON),
        )

    # notify learns of providers from the referral service's directory events.
    r = await eventually(register, lambda r: r.status_code != 404)
    assert r.status_code == 201, r.text
    h = system.token("caseworker", sub="caseworker-1", office="khujand-nrm", region="sughd")
    case_id = await open_case(system.case, h)
    await give_referral_consent(system.case, h, case_id)
    r = await system.case.post(
        f"/cases/{case_id}/referrals", json={"needs": ["shelter"], "urgency": "urgent"}, headers=h
    )
    assert r.status_code == 202, r.text
    return Referred(case_id, str(r.json()["referral_id"]))
