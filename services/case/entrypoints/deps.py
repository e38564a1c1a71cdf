"""What the case routes are given: the service's parts, built once per process by
``services.case.bootstrap`` and reached through the typed dependency ``Service``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import Depends

from services.case.app.duplicates import PersonIndex
from services.case.app.handling import CaseWrites
from services.case.config import CaseSettings
from shared.app import service_dependency
from shared.eventstore import EventStore
from shared.http_writes import HttpWrites
from shared.settings import Settings
from shared.times import Clock


@dataclass(frozen=True)
class CaseService:
    """The case service's parts. The pool and store belong to the runtime (it closes them)."""

    settings: Settings
    pool: asyncpg.Pool
    store: EventStore
    writes: CaseWrites
    http: HttpWrites
    clock: Clock
    index: PersonIndex  # blind identity keys: possible duplicates across offices
    config: CaseSettings = field(default_factory=CaseSettings)  # SAFEPATH_CASE_*


Service = Annotated[CaseService, Depends(service_dependency(CaseService))]
