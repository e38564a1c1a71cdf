"""The notify service process: wiring only (see ``create_app``)."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import FastAPI

from services.migrations import migration_dirs
from services.notify.app.service import Notify, build
from services.notify.config import NotifySettings
from services.notify.entrypoints.consumers import wire_delivery, wire_inbound
from services.notify.entrypoints.http import router
from shared.app import create_service_app
from shared.logging import get_logger
from shared.runtime import Runtime
from shared.settings import Settings

log = get_logger("safepath.notify")


def create_app(settings: Settings | None = None, notify: NotifySettings | None = None) -> FastAPI:
    settings = settings or Settings()
    notify_settings = notify or NotifySettings()

    def wire(rt: Runtime) -> None:
        n = build(rt, notify_settings)
        rt.extras["notify"] = n
        wire_inbound(rt, n.queueing, n.ready)
        wire_delivery(rt, n.delivery, notify_settings, n.ready)
        rt.tasks.append(asyncio.create_task(_close_on_cancel(n), name="notify-http-client"))

    async def on_started(rt: Runtime) -> None:
        n: Notify = rt.extras["notify"]
        encrypted = await n.webhooks.encrypt_plaintext_rows(rt.pool)
        if encrypted:
            log.info("webhook_secrets_encrypted", rows=encrypted)
        if notify_settings.directory_file is not None:
            async with rt.pool.acquire() as conn, conn.transaction():
                count = await n.views.load_file(conn, notify_settings.directory_file)
            log.info("directory_loaded", providers=count)
        n.ready.set()

    return create_service_app(
        "notify",
        title="Safepath notify service",
        description="Provider notifications over NATS and signed webhooks, with delivery records.",
        settings=settings,
        migrations=migration_dirs("notify"),
        wire=wire,
        routers=[router],
        on_started=on_started,
    )


async def _close_on_cancel(n: Notify) -> None:
    """Holds the webhook client open until shutdown cancels this task."""
    try:
        await asyncio.Event().wait()
    finally:
        with contextlib.suppress(Exception):
            await n.http.aclose()
