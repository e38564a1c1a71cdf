"""The case service process: wiring only (see ``create_app``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.case.entrypoints.http import ROUTERS
from services.migrations import migration_dirs
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "case",
        title="Safepath case service",
        description=(
            "Intake, NRM identification, consent and referral requests for caseworkers; "
            "read-only access for auditors. Every route needs a bearer JWT; identifying "
            "fields are encrypted per case and every read of them is recorded."
        ),
        settings=settings,
        migrations=migration_dirs("case"),
        routers=ROUTERS,
    )
