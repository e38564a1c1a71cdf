"""The case service process: ``create_app`` is what ``python -m services.case`` serves and
what the tests start; the wiring itself is ``services.case.bootstrap``."""

from __future__ import annotations

from fastapi import FastAPI

from services.case.bootstrap import bootstrap
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return bootstrap(settings or Settings())
