"""The referral service process: wiring only (see ``create_app``)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.migrations import migration_dirs
from services.referral.app.case_events import CASE_EVENT_TYPES, case_event_handler
from services.referral.app.directory_store import DirectoryCache, import_directory_file
from services.referral.app.escalation import run_escalation
from services.referral.app.referrals import Referrals
from services.referral.config import ReferralSettings
from services.referral.entrypoints.deps import ReferralService
from services.referral.entrypoints.routes_directory import router as directory_router
from services.referral.entrypoints.routes_referrals import router as referrals_router
from shared.app import create_service_app
from shared.consumer import IdempotentConsumer, subscribe
from shared.logging import get_logger
from shared.runtime import Runtime
from shared.settings import Settings

log = get_logger("safepath.referral")
CASE_CONSUMER = "referral-case-events"


def create_app(
    settings: Settings | None = None, referral: ReferralSettings | None = None
) -> FastAPI:
    config = referral or ReferralSettings()
    # Set once the directory file is imported: case events wait for it before routing.
    ready = asyncio.Event()

    def wire(rt: Runtime) -> None:
        cache = DirectoryCache(rt.store)
        svc = ReferralService(config, cache, Referrals(rt.store, cache, config.slas))
        rt.extras["referral"] = svc
        ready.clear()
        consumer = IdempotentConsumer(
            rt.pool,
            rt.store.schema,
            CASE_CONSUMER,
            case_event_handler(svc.referrals, ready),
            types=CASE_EVENT_TYPES,
        )
        subscribe(
            rt.broker,
            consumer,
            rt.dead_letters(CASE_CONSUMER),
            stream=rt.stream_of("case"),
            subject=rt.subjects_of("case"),
            durable=CASE_CONSUMER,
            verifier=rt.verifier,
            inbox_prefix=rt.subscriber_inbox,
        )

    async def on_started(rt: Runtime) -> None:
        svc: ReferralService = rt.extras["referral"]
        if config.directory_file is not None:
            written = await import_directory_file(rt.pool, svc.cache, config.directory_file)
            log.info("directory_imported", events=written)
        ready.set()
        rt.tasks.append(
            asyncio.create_task(
                run_escalation(
                    rt.pool,
                    svc.referrals,
                    config.escalation_interval_seconds,
                    config.escalation_batch,
                ),
                name="referral-escalation",
            )
        )

    return create_service_app(
        "referral",
        title="Safepath referral service",
        description=(
            "National referral mechanism routing over the directory of services; provider "
            "accept/decline; escalation. Every route needs a bearer JWT; providers see only "
            "minimised referrals under a pseudonymous case reference."
        ),
        settings=settings,
        migrations=migration_dirs("referral"),
        wire=wire,
        routers=(referrals_router, directory_router),
        on_started=on_started,
    )
