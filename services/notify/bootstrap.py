"""The notify service's composition root: the one place its parts are built and connected.

``bootstrap`` takes every dependency it does not build itself (settings, the notify
settings, how to start the runtime of pool, NATS and store, the clock) and returns the
app; the parts are built at start-up (never at import) and reach the routes as the typed
dependency ``entrypoints.http.Parts``.
"""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from services.migrations import migration_dirs
from services.notify.app.channels import NatsChannel, WebhookChannel
from services.notify.app.delivery import Delivery
from services.notify.app.directory import DirectoryViews
from services.notify.app.egress import webhook_client
from services.notify.app.queueing import Queueing
from services.notify.app.records import Records
from services.notify.app.service import Notify
from services.notify.app.webhooks import Webhooks
from services.notify.config import NotifySettings
from services.notify.entrypoints.consumers import (
    update_delivery_consumers,
    wire_delivery,
    wire_inbound,
)
from services.notify.entrypoints.http import router
from services.notify.entrypoints.routes_language import router as language_router
from services.notify.templates import load_templates
from shared.app import StartRuntime, create_service_app
from shared.crypto import master_key_from_setting
from shared.logging import get_logger
from shared.runtime import Runtime, start_runtime
from shared.settings import Settings
from shared.times import Clock, utc_now

log = get_logger("safepath.notify")


def bootstrap(
    settings: Settings,
    config: NotifySettings,
    *,
    start: StartRuntime = start_runtime,
    clock: Clock = utc_now,
) -> FastAPI:
    """The notify service's app; ``start`` gives the runtime, ``clock`` the time of
    queueing, deliveries and secret rotation."""

    def wire(rt: Runtime) -> Notify:
        n = parts(rt, config, clock)
        wire_inbound(rt, n.queueing, n.ready)
        wire_delivery(rt, n.delivery, config, n.ready)
        rt.tasks.append(asyncio.create_task(_close_on_cancel(n), name="notify-http-client"))
        return n

    async def on_started(rt: Runtime, n: Notify) -> None:
        await update_delivery_consumers(rt, config)
        encrypted = await n.webhooks.encrypt_plaintext_rows(rt.pool)
        if encrypted:
            log.info("webhook_secrets_encrypted", rows=encrypted)
        # The directory comes from the referral stream's directory events, in order
        # before the referrals routed on it (services/notify/app/directory.py).
        n.ready.set()

    return create_service_app(
        "notify",
        title="Safepath notify service",
        description="Provider notifications over NATS and signed webhooks, with delivery records.",
        settings=settings,
        migrations=migration_dirs("notify"),
        wire=wire,
        routers=[router, language_router],
        on_started=on_started,
        start=start,
    )


def parts(rt: Runtime, config: NotifySettings, clock: Clock) -> Notify:
    schema = rt.store.schema
    records = Records(rt.store)
    views = DirectoryViews(schema, config.default_language)
    case_key = rt.settings.case_reference_key.encode()
    queueing = Queueing(records, views, load_templates(), case_key, clock)
    webhooks = Webhooks(schema, master_key_from_setting(rt.settings.master_key))
    # Connects only to vetted public addresses (or allow-listed development receivers).
    client = webhook_client(config.allow_hosts, config.webhook_timeout_seconds)
    delivery = Delivery(
        rt.pool,
        records,
        queueing,
        webhooks,
        NatsChannel(rt.js, rt.settings.namespace, config.nats_timeout_seconds),
        WebhookChannel(client, config.webhook_timeout_seconds),
        config,
        rt.settings.environment,
        clock,
    )
    return Notify(
        rt.pool,
        config,
        rt.settings.environment,
        records,
        views,
        queueing,
        webhooks,
        delivery,
        client,
        asyncio.Event(),
        clock,
    )


async def _close_on_cancel(n: Notify) -> None:
    """Holds the webhook client open until shutdown cancels this task."""
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await n.http.aclose()
