"""The referral service against this test's database and namespace; case events published
the way the case service's relay would publish them."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.referral.config import ReferralSettings
from services.referral.main import create_app
from shared.auth import AuthConfig, mint_token
from shared.envelope import Envelope, dataschema_for
from shared.events.base import Event
from shared.events.case import ConsentScope, ReferralRequested
from shared.ids import uuid7
from shared.settings import Settings
from tests.keys import signed

Token = Callable[..., dict[str, str]]


@pytest.fixture
def settings(service_settings: Callable[..., Settings]) -> Settings:
    return service_settings("referral")


def fast(**changes: Any) -> ReferralSettings:
    return ReferralSettings(**{"escalation_interval_seconds": 0.2, **changes})


@asynccontextmanager
async def running(
    settings: Settings, config: ReferralSettings | None = None
) -> AsyncIterator[FastAPI]:
    app = create_app(settings, config or fast())
    async with app.router.lifespan_context(app):
        try:
            yield app
        finally:
            await stop_background_tasks(app)


async def stop_background_tasks(app: FastAPI) -> None:
    """Cancel the relay and timer tasks until they are done, before the lifespan ends.

    Works around Python 3.11's ``asyncio.wait_for`` swallowing a cancellation that lands
    while its inner future completes (the relay's ``wait_for(self._wake.wait(), poll)``
    right after an append): ``stop_runtime`` then waits for the relay forever. Fixed in
    ``shared/relay.py`` by using ``asyncio.timeout`` instead (reported to the lead).
    """
    for task in app.state.runtime.tasks:
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.05)


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running(settings) as application:
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(app) as c:
        yield c


@pytest.fixture
def auth(settings: Settings) -> Token:
    """``auth("provider", provider_id="...")`` → an Authorization header."""
    config = AuthConfig.from_settings(settings)

    def make(role: str = "caseworker", sub: str | None = None, **claims: Any) -> dict[str, str]:
        token = mint_token(config, sub or f"{role}-1", role, **claims)
        return {"Authorization": f"Bearer {token}"}

    return make


def request(**changes: Any) -> ReferralRequested:
    """A woman trafficked in Sughd (Khujand) who needs shelter and legal aid, urgently."""
    data: dict[str, Any] = {
        "referral_id": str(uuid7()),
        "needs": ["shelter", "legal_aid"],
        "urgency": "urgent",
        "categories": ["trafficking"],
        "region": "sughd",
        "district": "khujand",
        "sex": "female",
        "age_band": "25-39",
        "language": "tg",
        "disability": False,
        "consent": ConsentScope(
            consent_id="consent-1",
            service_types=["shelter", "legal_aid"],
            provider_ids=[],
            data_categories=["needs", "demographics"],
            expires_at=None,
        ),
        "emergency_without_consent": False,
        "emergency_reason": None,
        "note": None,
        "office": "khujand-nrm",
        "caseworker": "caseworker-1",
    }
    data.update(changes)
    return ReferralRequested.model_validate(data)


Publish = Callable[..., Awaitable[Envelope]]


@pytest.fixture
def publish(js: JetStreamContext, namespace: str) -> Publish:
    """Publish a case event as the case relay would (``msg_id`` overrides Nats-Msg-Id)."""
    versions: dict[str, int] = {}

    async def send(
        case_id: str, event: Event, *, envelope: Envelope | None = None, msg_id: str | None = None
    ) -> Envelope:
        if envelope is None:
            versions[case_id] = versions.get(case_id, 0) + 1
            envelope = Envelope(
                id=str(uuid7()),
                source="safepath/case",
                type=event.type_name(),
                subject=case_id,
                time=datetime.now(UTC),
                dataschema=dataschema_for(event.type_name()),
                streamversion=versions[case_id],
                correlationid=str(uuid7()),
                actor="caseworker:caseworker-1",
                data=event.model_dump(mode="json"),
            )
        await js.publish(
            f"{namespace}.case.{case_id}.{event.name()}",
            signed(envelope),
            headers={"Nats-Msg-Id": msg_id or envelope.id},
        )
        return envelope

    return send


def new_case_id() -> str:
    return str(uuid.uuid4())


async def referral_events(
    pool: asyncpg.Pool, *, stream: str | None = None, name: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    rows = await pool.fetch(
        "SELECT event_type, data::text AS data FROM referral.event"
        " WHERE stream_id <> 'directory' AND ($1::text IS NULL OR stream_id = $1)"
        " ORDER BY global_position",
        stream,
    )
    out = [(r["event_type"].split(".")[3], json.loads(r["data"])) for r in rows]
    return [e for e in out if name is None or e[0] == name]


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 10.0, interval: float = 0.05
) -> Any:
    """Poll ``check`` until it returns something truthy (or fail after ``within`` s)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        result = await check()
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within}s (last: {result!r})")
        await asyncio.sleep(interval)
