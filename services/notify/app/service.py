"""The notify service's parts, built once per process from the runtime."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import httpx

from services.notify.app.channels import NatsChannel, WebhookChannel
from services.notify.app.delivery import Delivery
from services.notify.app.directory import DirectoryViews
from services.notify.app.egress import webhook_client
from services.notify.app.queueing import Queueing
from services.notify.app.records import Records
from services.notify.app.webhooks import Webhooks
from services.notify.config import NotifySettings
from services.notify.templates import load_templates
from shared.crypto import master_key_from_setting
from shared.runtime import Runtime


@dataclass
class Notify:
    pool: asyncpg.Pool
    settings: NotifySettings
    environment: str
    records: Records
    views: DirectoryViews
    queueing: Queueing
    webhooks: Webhooks
    delivery: Delivery
    http: httpx.AsyncClient
    ready: asyncio.Event


def build(rt: Runtime, settings: NotifySettings) -> Notify:
    schema = rt.store.schema
    records = Records(rt.store)
    views = DirectoryViews(schema, settings.default_language)
    queueing = Queueing(records, views, load_templates(), rt.settings.case_reference_key.encode())
    webhooks = Webhooks(schema, master_key_from_setting(rt.settings.master_key))
    # Connects only to vetted public addresses (or allow-listed development receivers).
    client = webhook_client(settings.allow_hosts, settings.webhook_timeout_seconds)
    delivery = Delivery(
        rt.pool,
        records,
        queueing,
        webhooks,
        NatsChannel(rt.js, rt.settings.namespace, settings.nats_timeout_seconds),
        WebhookChannel(client, settings.webhook_timeout_seconds),
        settings,
        rt.settings.environment,
    )
    return Notify(
        rt.pool,
        settings,
        rt.settings.environment,
        records,
        views,
        queueing,
        webhooks,
        delivery,
        client,
        asyncio.Event(),
    )
