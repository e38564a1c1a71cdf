"""Read models for the HTTP API (the views ``records`` keeps)."""

from __future__ import annotations

from collections import defaultdict

import asyncpg

from services.notify.app.views import AttemptView, DeadLetterView, NotificationView
from shared.auth import Principal
from shared.case_scope import CaseScopes, in_scope
from shared.migrations import quote_ident


async def referral_in_scope(
    conn: asyncpg.Connection, schema: str, referral_id: str, principal: Principal
) -> bool:
    """May a case role see this referral? The case service's rule, on the referral's case as
    it stands now (``case_scope``, from the case events). A case not heard of yet is judged
    on the routed referral's region alone (no office or caseworker is known for it)."""
    q = quote_ident(schema)
    row = await conn.fetchrow(
        f"""SELECT case_id, region FROM (
                SELECT case_id, facts->>'region' AS region, 0 AS pick FROM {q}.referral_facts
                WHERE referral_id = $1
                UNION ALL
                SELECT case_id, NULL, 1 FROM {q}.notification WHERE referral_id = $1
            ) AS known ORDER BY pick LIMIT 1""",
        referral_id,
    )
    if row is None:
        return False
    scope = await CaseScopes(schema).get(conn, row["case_id"])
    region = scope.region if scope is not None and scope.region is not None else row["region"]
    return in_scope(
        principal,
        region=region,
        office=scope.office if scope is not None else None,
        caseworker=scope.caseworker if scope is not None else None,
    )


async def referral_notifications(
    conn: asyncpg.Connection, schema: str, referral_id: str, *, provider_id: str | None = None
) -> list[NotificationView]:
    """A referral's notifications with their attempts; ``provider_id``: only those sent to it."""
    q = quote_ident(schema)
    sql = f"SELECT * FROM {q}.notification WHERE referral_id = $1"
    args: list[object] = [referral_id]
    if provider_id is not None:
        sql += " AND recipient_kind = 'provider' AND recipient_id = $2"
        args.append(provider_id)
    rows = await conn.fetch(sql + " ORDER BY queued_at, notification_id", *args)
    if not rows:
        return []
    attempts: dict[str, list[AttemptView]] = defaultdict(list)
    for a in await conn.fetch(
        f"SELECT * FROM {q}.delivery_attempt WHERE notification_id = ANY($1::text[])"
        " ORDER BY attempted_at, channel, attempt",
        [r["notification_id"] for r in rows],
    ):
        attempts[a["notification_id"]].append(
            AttemptView(
                channel=a["channel"],
                attempt=a["attempt"],
                status_code=a["status_code"],
                error_kind=a["error_kind"],
                latency_ms=a["latency_ms"],
                succeeded=a["succeeded"],
                attempted_at=a["attempted_at"],
            )
        )
    return [
        NotificationView(
            notification_id=r["notification_id"],
            recipient_kind=r["recipient_kind"],
            recipient_id=r["recipient_id"],
            template=r["template"],
            language=r["language"],
            channels=list(r["channels"]),
            status=r["status"],
            queued_at=r["queued_at"],
            attempts=attempts[r["notification_id"]],
        )
        for r in rows
    ]


async def dead_letters(
    conn: asyncpg.Connection, schema: str, limit: int = 500
) -> list[DeadLetterView]:
    q = quote_ident(schema)
    rows = await conn.fetch(
        f"""SELECT d.*, n.referral_id, n.recipient_kind, n.recipient_id
            FROM {q}.dead_letter d JOIN {q}.notification n USING (notification_id)
            ORDER BY d.failed_at, d.notification_id, d.channel LIMIT $1""",
        limit,
    )
    return [
        DeadLetterView(
            notification_id=r["notification_id"],
            referral_id=r["referral_id"],
            recipient_kind=r["recipient_kind"],
            recipient_id=r["recipient_id"],
            channel=r["channel"],
            reason=r["reason"],
            attempts=r["attempts"],
            last_status_code=r["last_status_code"],
            last_error_kind=r["last_error_kind"],
            failed_at=r["failed_at"],
        )
        for r in rows
    ]
