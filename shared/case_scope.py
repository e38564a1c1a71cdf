"""Where a case stands now, as the services that read the case stream learn it, and the
scope rule that decides who may see what belongs to it.

The case service owns the case; the referral and notify services only hear of it through
its events. Each keeps a ``case_scope`` row per case (its own schema) with the case's
current region (the person's, from ``CaseOpened`` and the profile events), office and
responsible caseworker (from ``CaseOpened`` and ``CaseTransferred``). ``ReferralRequested``
repeats all three as they were when it was written.

Events of one case may arrive late, twice or out of order (redelivery, several replicas),
so each part is stored with the case stream version it came from and only a newer version
replaces it: a late ``CaseOpened`` never undoes a transfer. Region and owner are versioned
separately, because a profile update says nothing about the office and a transfer nothing
about the region.

``scope_change`` is pure; ``CaseScopes`` is the table (each service creates it with a
numbered migration of its own: ``services/<svc>/migrations/*_case_scope.sql``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.auth import Principal
from shared.events.base import Event
from shared.events.case import (
    CaseOpened,
    CaseTransferred,
    ReferralRequested,
    SurvivorProfileRecorded,
    SurvivorProfileUpdated,
)
from shared.migrations import quote_ident

# The case events that move a case's scope (consumers must subscribe to them).
SCOPE_EVENT_TYPES = frozenset(
    {
        "CaseOpened",
        "CaseTransferred",
        "SurvivorProfileRecorded",
        "SurvivorProfileUpdated",
        "ReferralRequested",
    }
)


@dataclass(frozen=True)
class Owner:
    office: str | None
    caseworker: str


@dataclass(frozen=True)
class ScopeChange:
    """What one case event says about the case's scope (None: nothing about that part)."""

    region: str | None = None
    owner: Owner | None = None


@dataclass(frozen=True)
class CaseScope:
    """The case as it stands now; a part never heard of is None."""

    region: str | None
    office: str | None
    caseworker: str | None
    owner_known: bool


def scope_change(event: Event) -> ScopeChange | None:
    """The scope ``event`` gives its case, or None for an event that does not move it."""
    match event:
        case CaseOpened():
            return ScopeChange(event.region, Owner(event.office, event.caseworker))
        case ReferralRequested():
            return ScopeChange(event.region, Owner(event.office, event.caseworker))
        case CaseTransferred():
            return ScopeChange(owner=Owner(event.to_office, event.to_caseworker))
        case SurvivorProfileRecorded() | SurvivorProfileUpdated():
            return ScopeChange(region=event.profile.region)
    return None


def in_scope(
    principal: Principal, *, region: str | None, office: str | None, caseworker: str | None
) -> bool:
    """The case service's rule (``services/case/app/policy.py``) on a case as it stands now.

    Admins and region-free auditors see every case; region-bound auditors and supervisors
    their region's; a caseworker the cases they are responsible for, else their office's
    (or, without an office, their region's). Providers are never in a case's scope.
    """
    match principal.role:
        case "admin":
            return True
        case "auditor":
            return principal.region is None or principal.region == region
        case "supervisor":
            return principal.region is not None and principal.region == region
        case "caseworker":
            if caseworker is not None and caseworker == principal.sub:
                return True
            if principal.office is not None:
                return office is not None and office == principal.office
            return principal.region is not None and principal.region == region
    return False


class CaseScopes:
    """``<schema>.case_scope``: written in the consumer's transaction, read by the routes."""

    def __init__(self, schema: str) -> None:
        t = self.table = f"{quote_ident(schema)}.case_scope"
        self._upsert = f"""
            INSERT INTO {t} AS s (case_id, region, region_version, office, caseworker,
                owner_version)
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (case_id) DO UPDATE SET
                region = CASE WHEN excluded.region_version > s.region_version
                    THEN excluded.region ELSE s.region END,
                region_version = greatest(s.region_version, excluded.region_version),
                office = CASE WHEN excluded.owner_version > s.owner_version
                    THEN excluded.office ELSE s.office END,
                caseworker = CASE WHEN excluded.owner_version > s.owner_version
                    THEN excluded.caseworker ELSE s.caseworker END,
                owner_version = greatest(s.owner_version, excluded.owner_version),
                updated_at = now()
            WHERE excluded.region_version > s.region_version
               OR excluded.owner_version > s.owner_version"""

    async def record(
        self, conn: asyncpg.Connection, case_id: str, case_version: int, event: Event
    ) -> bool:
        """Apply what ``event`` (version ``case_version`` of the case) says; True if it may
        have moved the scope."""
        change = scope_change(event)
        if change is None:
            return False
        owner = change.owner
        await conn.execute(
            self._upsert,
            case_id,
            change.region,
            case_version if change.region is not None else 0,
            owner.office if owner else None,
            owner.caseworker if owner else None,
            case_version if owner is not None else 0,
        )
        return True

    async def get(self, conn: asyncpg.Connection | asyncpg.Pool, case_id: str) -> CaseScope | None:
        row = await conn.fetchrow(
            f"SELECT region, region_version, office, caseworker, owner_version FROM {self.table}"
            " WHERE case_id = $1",
            case_id,
        )
        return None if row is None else scope_of(row)


def scope_of(row: Any) -> CaseScope:
    known = row["owner_version"] > 0
    return CaseScope(
        region=row["region"] if row["region_version"] > 0 else None,
        office=row["office"] if known else None,
        caseworker=row["caseworker"] if known else None,
        owner_known=known,
    )
