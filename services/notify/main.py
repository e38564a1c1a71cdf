"""The notify service process: ``create_app`` is what ``python -m services.notify`` serves
and what the tests start; the wiring itself is ``services.notify.bootstrap``."""

from __future__ import annotations

from fastapi import FastAPI

from services.notify.bootstrap import bootstrap
from services.notify.config import NotifySettings
from shared.settings import Settings


def create_app(settings: Settings | None = None, notify: NotifySettings | None = None) -> FastAPI:
    return bootstrap(settings or Settings(), notify or NotifySettings())
