"""The delivery consumer against a real JetStream: a round whose outcome could not be
recorded is run again however often JetStream delivered it, and an existing consumer is
brought to that configuration at start.

Before 2026-11-30 the consumer stopped after ``max_attempts`` deliveries and acked a
last delivery whose round failed (``delivery_abandoned``): with Postgres down at that
moment the notification stayed queued for ever, neither delivered nor given up on, and
nobody was alerted (the nemesis, seed 182122).
"""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig

from services.notify.app.delivery import Delivery
from services.notify.config import NotifySettings
from services.notify.main import create_app
from shared.settings import Settings
from tests.integration.notify.conftest import Token
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import eventually, notify_events
from tests.integration.notify.test_webhooks import register, route_one, webhook_events

DURABLES = ("notify-deliver-NotificationQueued", "notify-deliver-NotificationRedeliveryRequested")


async def test_a_round_that_cannot_record_past_the_attempts_is_not_dropped(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
    notify_settings: NotifySettings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await register(client, auth, receiver.url)
    receiver.default = 503  # every attempt fails, so every round records
    failing = notify_settings.max_attempts + 1  # more rounds than JetStream once allowed
    record = Delivery._record

    async def postgres_gone(self: Delivery, *args: Any, **kwargs: Any) -> Any:
        nonlocal failing
        if failing > 0:
            failing -= 1
            raise ConnectionResetError("Postgres is restarting")
        return await record(self, *args, **kwargs)

    monkeypatch.setattr(Delivery, "_record", postgres_gone)
    await route_one(js, namespace)

    # The failed rounds recorded nothing; the rounds after them count the attempts, and
    # the record gives up after max_attempts of them, alerting the coordinator.
    failed = await eventually(
        lambda: notify_events(pool, "NotificationFailed"),
        lambda f: len(webhook_events(f)) == 1,
        within=30.0,
    )
    assert failing == 0
    assert webhook_events(failed)[0]["attempts"] == notify_settings.max_attempts
    assert len(receiver.received) == notify_settings.max_attempts * 2 + 1
    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 2
    )
    assert queued[1]["template"] == "provider_unreachable"


async def test_an_existing_delivery_consumer_is_updated_at_start(
    app: FastAPI,
    js: JetStreamContext,
    settings: Settings,
    notify_settings: NotifySettings,
) -> None:
    stream = f"{settings.namespace}_notify".upper()
    for durable in DURABLES:
        info = await js.consumer_info(stream, durable)
        assert info.config.max_deliver == -1
        # As a consumer created by an earlier release stood: bounded.
        old = info.config
        old.max_deliver = notify_settings.max_attempts
        await js.add_consumer(stream, config=old)
        bounded = (await js.consumer_info(stream, durable)).config.max_deliver
        assert bounded == notify_settings.max_attempts

    again = create_app(settings, notify_settings)
    async with again.router.lifespan_context(again):
        for durable in DURABLES:
            config: ConsumerConfig = (await js.consumer_info(stream, durable)).config
            assert config.max_deliver == -1
