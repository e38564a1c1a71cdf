"""The ``referral_view`` projection: one row per referral, written with each append.

Reads for case roles (``get``, ``of_case``) also carry the scope of the referral's case as
it stands now (``scope_region``, ``scope_office``, ``scope_caseworker``), from the
``case_scope`` table the case-event consumer keeps (``shared/case_scope.py``); for a case
not heard of there, the office, caseworker and region the referral request gave.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.referral.domain.state import Referral
from shared.events.base import Event
from shared.events.referral import ReferralRouted, ReferralUnroutable
from shared.migrations import quote_ident


class Projection:
    def __init__(self, schema: str) -> None:
        t = self.table = f"{quote_ident(schema)}.referral_view"
        self._scoped = f"""
            SELECT v.*,
                CASE WHEN s.region_version > 0 THEN s.region ELSE v.region END AS scope_region,
                CASE WHEN s.owner_version > 0 THEN s.office ELSE v.office END AS scope_office,
                CASE WHEN s.owner_version > 0 THEN s.caseworker ELSE v.caseworker END
                    AS scope_caseworker,
                f.follows_up
            FROM {t} v LEFT JOIN {quote_ident(schema)}.case_scope s USING (case_id)
                LEFT JOIN {quote_ident(schema)}.referral_follow_up f USING (referral_id)"""
        self._upsert = f"""
            INSERT INTO {t} (referral_id, case_id, request_id, need, urgency, status,
                provider_id, coordinator_id, attempt, respond_by, reasons, categories, region,
                district, sex, age_band, language, disability, consent_id, office, caseworker,
                version, created_at, updated_at, deletion_requested, deletion_pending,
                deletion_due_at, outcome, outcome_reason, outcome_confirmed, interpreter_needed,
                unmet_reason)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, coalesce($11::jsonb, '{{}}'),
                $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23, $24, $25, $26,
                $27, $28, $29, $30, $31)
            ON CONFLICT (referral_id) DO UPDATE SET
                status = excluded.status, provider_id = excluded.provider_id,
                coordinator_id = excluded.coordinator_id, attempt = excluded.attempt,
                respond_by = excluded.respond_by,
                reasons = coalesce($11::jsonb, {t}.reasons),
                version = excluded.version, updated_at = excluded.updated_at,
                deletion_requested = excluded.deletion_requested,
                deletion_pending = excluded.deletion_pending,
                deletion_due_at = excluded.deletion_due_at,
                outcome = excluded.outcome, outcome_reason = excluded.outcome_reason,
                outcome_confirmed = excluded.outcome_confirmed,
                unmet_reason = excluded.unmet_reason"""

    async def save(
        self,
        conn: asyncpg.Connection,
        state: Referral,
        new_events: Sequence[Event],
        version: int,
        now: datetime,
        origin: dict[str, str | None] | None = None,
    ) -> None:
        """Write the referral as ``state`` leaves it; reasons of the latest routing attempt.

        ``origin`` (office, caseworker) is only known when the referral is opened.
        """
        attempts = [e for e in new_events if isinstance(e, ReferralRouted | ReferralUnroutable)]
        reasons = json.dumps(attempts[-1].reasons.model_dump(mode="json")) if attempts else None
        origin = origin or {}
        f = state.facts
        deletion = state.deletion
        await conn.execute(
            self._upsert,
            state.referral_id,
            state.case_id,
            state.request_id,
            state.need,
            state.urgency,
            state.status,
            state.provider_id,
            state.coordinator_id,
            state.attempt,
            state.respond_by,
            reasons,
            list(f.categories),
            f.region,
            f.district,
            f.sex,
            f.age_band,
            f.language,
            f.disability,
            state.consent.consent_id,
            origin.get("office"),
            origin.get("caseworker"),
            version,
            now,
            sorted(deletion.requested) if deletion else [],
            sorted(deletion.pending) if deletion else [],
            deletion.next_due if deletion else None,
            state.outcome,
            state.outcome_reason,
            state.outcome_confirmed,
            f.interpreter_needed,
            state.unmet_reason,
        )

    async def get(self, conn: asyncpg.Connection | asyncpg.Pool, referral_id: str) -> Any:
        """The referral's row with its case's current scope (``scope_*``), or None."""
        return await conn.fetchrow(f"{self._scoped} WHERE v.referral_id = $1", referral_id)

    async def of_case(self, conn: asyncpg.Connection | asyncpg.Pool, case_id: str) -> list[Any]:
        """The case's referrals, each with the case's current scope (``scope_*``)."""
        return list(
            await conn.fetch(
                f"{self._scoped} WHERE v.case_id = $1 ORDER BY v.created_at, v.referral_id",
                case_id,
            )
        )

    async def of_provider(
        self, conn: asyncpg.Connection | asyncpg.Pool, provider_id: str, status: str | None
    ) -> list[Any]:
        return list(
            # A referral the provider was told to delete is gone for it (410, not listed).
            await conn.fetch(
                f"SELECT * FROM {self.table} WHERE provider_id = $1"
                " AND NOT ($1 = ANY(deletion_requested))"
                " AND ($2::text IS NULL OR status = $2) ORDER BY updated_at DESC LIMIT 500",
                provider_id,
                status,
            )
        )

    async def with_status(
        self,
        conn: asyncpg.Connection | asyncpg.Pool,
        status: str,
        region: str | None,
        categories: Sequence[str] | None = None,
    ) -> list[Any]:
        """Referrals in ``status`` (the coordinator's queue), of the person's current
        ``region`` and of one of ``categories`` when given, oldest first."""
        return list(
            await conn.fetch(
                f"SELECT * FROM ({self._scoped}) q WHERE q.status = $1"
                " AND ($2::text IS NULL OR q.scope_region = $2)"
                " AND ($3::text[] IS NULL OR q.categories && $3::text[])"
                " ORDER BY q.updated_at, q.referral_id LIMIT 500",
                status,
                region,
                None if categories is None else list(categories),
            )
        )

    async def withdrawable_of_case(
        self, conn: asyncpg.Connection, case_id: str, consent_id: str | None = None
    ) -> list[str]:
        """The case's referrals (under ``consent_id``, when given) whose providers have not
        been told to delete yet: open ones, and finished ones a provider received."""
        rows = await conn.fetch(
            f"SELECT referral_id FROM {self.table} WHERE case_id = $1"
            " AND cardinality(deletion_requested) = 0"
            " AND ($2::text IS NULL OR consent_id = $2) ORDER BY referral_id",
            case_id,
            consent_id,
        )
        return [r["referral_id"] for r in rows]

    async def deletion_due(self, pool: asyncpg.Pool, now: datetime, limit: int) -> list[str]:
        """Referrals whose deletion reminder or escalation is due at ``now``."""
        rows = await pool.fetch(
            f"SELECT referral_id FROM {self.table} WHERE deletion_due_at <= $1"
            " ORDER BY deletion_due_at LIMIT $2",
            now,
            limit,
        )
        return [r["referral_id"] for r in rows]

    async def due(self, pool: asyncpg.Pool, now: datetime, limit: int) -> list[str]:
        rows = await pool.fetch(
            f"SELECT referral_id FROM {self.table} WHERE status = 'awaiting_answer'"
            " AND respond_by <= $1 ORDER BY respond_by LIMIT $2",
            now,
            limit,
        )
        return [r["referral_id"] for r in rows]
