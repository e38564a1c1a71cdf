"""The case service process: wiring only (see ``create_app``)."""

from __future__ import annotations

from fastapi import FastAPI

from services.case.app.reading import stream_visible
from services.case.app.timeline import NOTIFY_EVENTS, apply_notify_event, apply_referral_event
from services.case.entrypoints.http import ROUTERS
from services.migrations import migration_dirs
from shared.app import create_service_app
from shared.auth import Principal
from shared.consumer import IdempotentConsumer, subscribe
from shared.runtime import Runtime
from shared.settings import Settings

# A full profile (10,000-character narrative, names, address, documents) can pass the
# 64 KiB default when its text is JSON-escaped (\uXXXX, surrogate pairs for emoji).
BODY_LIMITS = {"/cases": 256 * 1024, "/cases/{case_id}/profile": 256 * 1024}


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
        wire=wire,
        audit_scope=audit_scope,
        body_limits=BODY_LIMITS,
    )


async def audit_scope(rt: Runtime, principal: Principal, stream_id: str) -> bool:
    """``GET /audit/verify?case=``: the same scope as reading the case."""
    return await stream_visible(rt.store, principal, stream_id)


def wire(rt: Runtime) -> None:
    """The case learns referral statuses and the other services' events for its history."""
    for service, name, apply, types in (
        ("referral", "case-referral-events", apply_referral_event, None),
        ("notify", "case-notify-events", apply_notify_event, NOTIFY_EVENTS),
    ):
        consumer = IdempotentConsumer(rt.pool, "case", name, apply, types=types)
        subscribe(
            rt.broker,
            consumer,
            rt.dead_letters(name),
            stream=rt.stream_of(service),
            subject=rt.subjects_of(service),
            durable=name,
            verifier=rt.verifier,
            inbox_prefix=rt.subscriber_inbox,
        )
