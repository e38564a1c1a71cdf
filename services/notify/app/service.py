"""The notify service's parts, built once per process by ``services.notify.bootstrap``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
import httpx

from services.notify.app.delivery import Delivery
from services.notify.app.directory import DirectoryViews
from services.notify.app.queueing import Queueing
from services.notify.app.records import Records
from services.notify.app.webhooks import Webhooks
from services.notify.config import NotifySettings
from shared.times import Clock


@dataclass
class Notify:
    """What the routes and consumers of one process share. The pool belongs to the
    runtime; the webhook client ``http`` to this service (closed at shutdown)."""

    pool: asyncpg.Pool
    settings: NotifySettings
    environment: str
    records: Records
    views: DirectoryViews
    queueing: Queueing
    webhooks: Webhooks
    delivery: Delivery
    http: httpx.AsyncClient
    ready: asyncio.Event  # set once the directory is loaded: consumers wait for it
    clock: Clock
