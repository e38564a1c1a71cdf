"""The referral service process: wiring only (see ``create_app``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.migrations import migration_dirs
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "referral",
        title="Safepath referral service",
        description="National referral mechanism routing over the directory of services; provider accept/decline; escalation.",
        settings=settings,
        migrations=migration_dirs("referral"),
    )
