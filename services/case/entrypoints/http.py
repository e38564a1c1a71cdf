"""The case service's HTTP API: every route needs a bearer JWT (see ``docs/case-api.md``)."""

from __future__ import annotations

from fastapi import APIRouter

from services.case.entrypoints.routes_cases import router as cases_router
from services.case.entrypoints.routes_casualty import router as casualty_router
from services.case.entrypoints.routes_changes import router as changes_router
from services.case.entrypoints.routes_emergency import router as emergency_router
from services.case.entrypoints.routes_handover import router as handover_router
from services.case.entrypoints.routes_lifecycle import router as lifecycle_router
from services.case.entrypoints.routes_person import router as person_router
from services.case.entrypoints.routes_plan import router as plan_router
from services.case.entrypoints.routes_record import router as record_router
from services.case.entrypoints.routes_statistics import router as statistics_router
from services.case.entrypoints.routes_transfer import router as transfer_router

ROUTERS: tuple[APIRouter, ...] = (
    cases_router,
    changes_router,
    lifecycle_router,
    transfer_router,
    record_router,
    person_router,
    casualty_router,
    statistics_router,
    emergency_router,
    handover_router,
    plan_router,
)
