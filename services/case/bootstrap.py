"""The case service's composition root: the one place its parts are built and connected.

``bootstrap`` takes every dependency it does not build itself (settings, how to start the
runtime of pool, NATS and store, the clock) and returns the app; the parts are built at
start-up (never at import) and reach the routes as the typed dependency
``entrypoints.deps.Service``.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.case.app.due_dates import run_due_date_timer
from services.case.app.duplicates import PersonIndex, index_key_from
from services.case.app.handling import CaseWrites
from services.case.app.reading import stream_visible
from services.case.app.reflection import run_reflection_timer
from services.case.app.transfer_timer import run_transfer_timer
from services.case.config import CaseSettings
from services.case.entrypoints.consumers import subscribe_timeline
from services.case.entrypoints.deps import CaseService
from services.case.entrypoints.http import ROUTERS
from services.case.entrypoints.writes import CONFLICT, problem_of
from services.migrations import migration_dirs
from shared.app import StartRuntime, create_service_app
from shared.auth import Principal
from shared.crypto import PgKeyStore, master_key_from_setting
from shared.http_writes import HttpWrites
from shared.runtime import Runtime, start_runtime
from shared.settings import Settings
from shared.times import Clock, utc_now

# A full profile (10,000-character narrative, names, address, documents) can pass the
# 64 KiB default when its text is JSON-escaped (six-byte \u escapes, surrogate pairs for
# emoji).
BODY_LIMITS = {"/cases": 256 * 1024, "/cases/{case_id}/profile": 256 * 1024}


def bootstrap(
    settings: Settings,
    *,
    start: StartRuntime = start_runtime,
    clock: Clock = utc_now,
    config: CaseSettings | None = None,
) -> FastAPI:
    """The case service's app; ``start`` gives the runtime, ``clock`` the time of writes
    and of the reflection timer; ``config`` the case settings (else from the environment)."""
    case_config = config or CaseSettings()

    def wire(rt: Runtime) -> CaseService:
        subscribe_timeline(rt)
        master_key = master_key_from_setting(rt.settings.master_key)
        keys = PgKeyStore(rt.pool, rt.store.schema, master_key)
        return CaseService(
            settings=rt.settings,
            pool=rt.pool,
            store=rt.store,
            writes=CaseWrites(rt.store, keys, clock),
            http=HttpWrites(rt.pool, rt.store.schema, problem_of, CONFLICT),
            clock=clock,
            index=PersonIndex(rt.store.schema, index_key_from(rt.settings)),
            config=case_config,
        )

    async def on_started(rt: Runtime, svc: CaseService) -> None:
        # One replica reminds caseworkers before reflection periods end, and ends them.
        rt.lease(
            "reflection-timer",
            lambda: run_reflection_timer(
                rt.pool,
                rt.store,
                clock,
                case_config.reflection_reminder_days,
                case_config.reflection_interval_seconds,
                case_config.reflection_batch,
            ),
        )
        # One replica reminds caseworkers of the plan's due dates and follow-ups.
        rt.lease(
            "due-date-timer",
            lambda: run_due_date_timer(
                rt.pool,
                rt.store,
                clock,
                case_config.due_reminder_days,
                case_config.due_interval_seconds,
                case_config.due_batch,
            ),
        )
        # And one expires the transfer requests nobody answered in time.
        rt.lease(
            "transfer-timer",
            lambda: run_transfer_timer(
                rt.pool,
                rt.store,
                clock,
                case_config.transfer_interval_seconds,
                case_config.transfer_batch,
            ),
        )

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
        on_started=on_started,
        start=start,
    )


async def audit_scope(rt: Runtime, principal: Principal, stream_id: str) -> bool:
    """``GET /audit/verify?case=``: the same scope as reading the case."""
    return await stream_visible(rt.store, principal, stream_id)
