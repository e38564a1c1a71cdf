"""A notification's delivery record: decide on it, append, and update the views, in the
caller's transaction (so an attempt's events and its views commit together)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import asyncpg

from services.notify.domain import delivery
from services.notify.domain.delivery import DeliveryEvent, DeliveryRecord
from shared.commands import execute, load
from shared.envelope import Actor
from shared.events.base import Event
from shared.events.notify import (
    DeliveryAttempted,
    NotificationDelivered,
    NotificationFailed,
    NotificationQueued,
    NotificationRedeliveryRequested,
)
from shared.eventstore import EventStore, StoredEvent
from shared.migrations import quote_ident

NOTIFY = Actor.service("notify")
_SETTLING = (NotificationDelivered, NotificationFailed, NotificationRedeliveryRequested)


def fold(events: Sequence[Event]) -> DeliveryRecord:
    return delivery.fold([cast(DeliveryEvent, e) for e in events])


def decide(state: DeliveryRecord | None, command: Any, now: datetime) -> list[DeliveryEvent]:
    return delivery.decide(state or DeliveryRecord(), command, now)


class Records:
    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.q = quote_ident(store.schema)

    async def current(self, conn: asyncpg.Connection, notification_id: str) -> DeliveryRecord:
        loaded = await load(self.store, notification_id, fold, conn=conn)
        return loaded.state or DeliveryRecord()

    async def record(
        self,
        conn: asyncpg.Connection,
        notification_id: str,
        command: delivery.Command,
        now: datetime,
        *,
        correlation_id: str,
        causation_id: str | None = None,
        actor: Actor = NOTIFY,
    ) -> list[tuple[StoredEvent, Event]]:
        """Decide ``command`` and append its events; the views follow in the same transaction."""
        stored, _ = await execute(
            self.store,
            conn,
            notification_id,
            fold=fold,
            decide=decide,
            command=command,
            now=now,
            actor=actor,
            correlation_id=correlation_id,
            causation_id=causation_id,
        )
        events = [self.store.load(s) for s in stored]
        await self._project(conn, stored, events)
        return list(zip(stored, events, strict=True))

    async def _project(
        self, conn: asyncpg.Connection, stored: Sequence[StoredEvent], events: Sequence[Event]
    ) -> None:
        q = self.q
        for s, e in zip(stored, events, strict=True):
            at = s.occurred_at
            if isinstance(e, NotificationQueued):
                await conn.execute(
                    f"""INSERT INTO {q}.notification (notification_id, referral_id, case_id,
                        recipient_kind, recipient_id, template, language, channels, status,
                        queued_at, updated_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', $9, $9)""",
                    e.notification_id,
                    e.referral_id,
                    e.case_id,
                    e.recipient_kind,
                    e.recipient_id,
                    e.template,
                    e.language,
                    list(e.channels),
                    at,
                )
                continue
            if isinstance(e, DeliveryAttempted):
                await conn.execute(
                    f"""INSERT INTO {q}.delivery_attempt (notification_id, channel, attempt,
                        status_code, error_kind, latency_ms, succeeded, attempted_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""",
                    e.notification_id,
                    e.channel,
                    e.attempt,
                    e.status_code,
                    e.error_kind,
                    e.latency_ms,
                    e.succeeded,
                    at,
                )
            elif isinstance(e, NotificationFailed):
                await conn.execute(
                    f"""INSERT INTO {q}.dead_letter (notification_id, channel, reason, attempts,
                        last_status_code, last_error_kind, failed_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        ON CONFLICT (notification_id, channel) DO UPDATE
                        SET reason = excluded.reason, attempts = excluded.attempts,
                            last_status_code = excluded.last_status_code,
                            last_error_kind = excluded.last_error_kind,
                            failed_at = excluded.failed_at""",
                    e.notification_id,
                    e.channel,
                    e.reason,
                    e.attempts,
                    e.last_status_code,
                    e.last_error_kind,
                    at,
                )
            elif isinstance(e, NotificationRedeliveryRequested):
                await conn.execute(
                    f"DELETE FROM {q}.dead_letter WHERE notification_id = $1"
                    " AND channel = ANY($2::text[])",
                    e.notification_id,
                    list(e.channels),
                )
            if isinstance(e, _SETTLING):
                state = await self.current(conn, e.notification_id)
                await conn.execute(
                    f"UPDATE {q}.notification SET status = $2, updated_at = $3"
                    " WHERE notification_id = $1",
                    e.notification_id,
                    state.status,
                    at,
                )
