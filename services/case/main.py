"""The case service process: wiring only (see ``create_app``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.migrations import migration_dirs
from shared.app import create_service_app
from shared.settings import Settings


def create_app(settings: Settings | None = None) -> FastAPI:
    return create_service_app(
        "case",
        title="Safepath case service",
        description="Intake, identification, consent, referral requests, case timeline and audit for caseworkers and auditors.",
        settings=settings,
        migrations=migration_dirs("case"),
    )
