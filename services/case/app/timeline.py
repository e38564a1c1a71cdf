"""What the case service learns from the other services' events.

Referral events (they carry ``case_id``) and notify events about a case are written to
``case_timeline`` for the case's history, and referral events also move
``case_referral_status``, which ``GET /cases/{id}`` shows. Both are applied inside the
inbox transaction, so a redelivered event changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from shared.envelope import Envelope
from shared.events.base import Event

# Referral event name -> the status the case shows for that referral.
REFERRAL_STATUS = {
    "ReferralRouted": "routed",
    "ReferralUnroutable": "unroutable",
    "ReferralAccepted": "accepted",
    "ReferralDeclined": "declined",
    "ReferralEscalated": "escalated",
    "ServiceStarted": "in_service",
    "ServiceCompleted": "completed",
    "ReferralWithdrawn": "withdrawn",
}
STATUS_FIELDS = ("referral_id", "need", "status", "provider_id", "attempt", "updated_at")
NOTIFY_EVENTS = ("NotificationQueued", "NotificationDelivered", "NotificationFailed")


async def _timeline(conn: asyncpg.Connection, case_id: str, env: Envelope) -> None:
    await conn.execute(
        """INSERT INTO "case".case_timeline (event_id, case_id, service, event_type,
               occurred_at, actor, stream_id, stream_version, correlation_id, causation_id, data)
           VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)
           ON CONFLICT (event_id) DO NOTHING""",
        env.id,
        case_id,
        env.service,
        env.type,
        env.time,
        env.actor,
        env.subject,
        env.streamversion,
        env.correlationid,
        env.causationid,
        json.dumps(env.data),
    )


async def apply_referral_event(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    data: dict[str, Any] = env.data
    case_id = data.get("case_id")
    if not isinstance(case_id, str):
        return  # directory events: not about a case
    await _timeline(conn, case_id, env)
    status = REFERRAL_STATUS.get(env.event_name)
    if status is None:
        return
    await conn.execute(
        """INSERT INTO "case".case_referral_status AS s (referral_id, request_id, case_id, need,
               status, provider_id, attempt, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (referral_id) DO UPDATE SET
               request_id = coalesce(excluded.request_id, s.request_id),
               need = coalesce(excluded.need, s.need),
               status = excluded.status,
               provider_id = coalesce(excluded.provider_id, s.provider_id),
               attempt = coalesce(excluded.attempt, s.attempt),
               updated_at = excluded.updated_at
           WHERE s.updated_at <= excluded.updated_at""",
        data["referral_id"],
        data.get("request_id"),
        case_id,
        data.get("need"),
        status,
        data.get("provider_id"),
        data.get("attempt"),
        env.time,
    )


async def apply_notify_event(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    data: dict[str, Any] = env.data
    nid = str(data.get("notification_id", ""))
    if env.event_name == "NotificationQueued":
        case_id = data.get("case_id")
        if not isinstance(case_id, str):
            return
        await conn.execute(
            """INSERT INTO "case".notification_case VALUES ($1, $2)
               ON CONFLICT DO NOTHING""",
            nid,
            case_id,
        )
    else:
        case_id = await conn.fetchval(
            'SELECT case_id FROM "case".notification_case WHERE notification_id = $1', nid
        )
        if case_id is None:
            return
    # The notification payload itself stays in notify's record; the timeline keeps the fact.
    slim = env.model_copy(update={"data": {k: v for k, v in data.items() if k != "notification"}})
    await _timeline(conn, case_id, slim)


async def referral_statuses(pool: asyncpg.Pool, case_id: str) -> dict[str, list[dict[str, Any]]]:
    """Per request id, the status of each need's referral."""
    rows = await pool.fetch(
        """SELECT referral_id, request_id, need, status, provider_id, attempt, updated_at
           FROM "case".case_referral_status WHERE case_id = $1 ORDER BY need""",
        case_id,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["request_id"] or "", []).append(
            {
                k: r[k]
                for k in ("referral_id", "need", "status", "provider_id", "attempt", "updated_at")
            }
        )
    return out
