"""The referral service's composition root: the one place its parts are built and connected.

``bootstrap`` takes every dependency it does not build itself (settings, the referral
settings, how to start the runtime of pool, NATS and store, the clock) and returns the
app; the parts are built at start-up (never at import) and reach the routes as the typed
dependency ``entrypoints.deps.Service``.
"""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from services.migrations import migration_dirs
from services.referral.app.deletion_timer import run_deletion_timer
from services.referral.app.directory_store import DirectoryCache, import_directory_file
from services.referral.app.escalation import run_escalation
from services.referral.app.referrals import Referrals
from services.referral.config import ReferralSettings
from services.referral.entrypoints.consumers import subscribe_case_events
from services.referral.entrypoints.deps import CONFLICT, ReferralService, problem_of
from services.referral.entrypoints.routes_coordinator import router as coordinator_router
from services.referral.entrypoints.routes_directory import router as directory_router
from services.referral.entrypoints.routes_referrals import router as referrals_router
from shared.app import StartRuntime, create_service_app
from shared.http_writes import HttpWrites
from shared.logging import get_logger
from shared.runtime import Runtime, start_runtime
from shared.settings import Settings
from shared.times import Clock, utc_now

log = get_logger("safepath.referral")


def bootstrap(
    settings: Settings,
    config: ReferralSettings,
    *,
    start: StartRuntime = start_runtime,
    clock: Clock = utc_now,
) -> FastAPI:
    """The referral service's app; ``start`` gives the runtime, ``clock`` the time of
    decisions and of the escalation timer."""
    # Set once the directory file is imported: case events wait for it before routing.
    ready = asyncio.Event()

    def wire(rt: Runtime) -> ReferralService:
        cache = DirectoryCache(rt.store)
        referrals = Referrals(rt.store, cache, config.slas, clock)
        ready.clear()
        subscribe_case_events(rt, referrals, ready, config.deletion_confirm_within)
        return ReferralService(
            settings=config,
            pool=rt.pool,
            store=rt.store,
            cache=cache,
            referrals=referrals,
            http=HttpWrites(rt.pool, rt.store.schema, problem_of, CONFLICT),
            reference_key=rt.settings.case_reference_key.encode(),
            clock=clock,
        )

    async def on_started(rt: Runtime, svc: ReferralService) -> None:
        if config.directory_file is not None:
            written = await import_directory_file(rt.pool, svc.cache, config.directory_file)
            log.info("directory_imported", events=written)
        ready.set()
        # One replica runs the timer (each escalation is once anyway: expected version).
        rt.lease(
            "escalation",
            lambda: run_escalation(
                rt.pool,
                svc.referrals,
                config.escalation_interval_seconds,
                config.escalation_batch,
            ),
        )
        # Reminders and escalations of unconfirmed deletions, also once per service.
        rt.lease(
            "deletion-timer",
            lambda: run_deletion_timer(
                rt.pool,
                svc.referrals,
                config.deletion_escalate_within,
                config.deletion_interval_seconds,
                config.escalation_batch,
            ),
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
        routers=(referrals_router, directory_router, coordinator_router),
        on_started=on_started,
        start=start,
    )
