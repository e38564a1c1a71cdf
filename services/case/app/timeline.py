"""What the case service learns from the other services' events.

Referral events (they carry ``case_id``) and notify events about a case are written to
``case_timeline`` for the case's history, and referral events also move
``case_referral_status``, which ``GET /cases/{id}`` shows. Both are applied inside the
inbox transaction, so a redelivered event changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.case.app.directory import keep_directory
from services.case.app.statistics.model import record_received
from shared.crypto import case_aad, open_sealed
from shared.envelope import Envelope
from shared.events.base import Event, Sealed
from shared.eventstore import StoredEvent

# Referral event name -> the status the case shows for that referral.
REFERRAL_STATUS = {
    "ReferralRouted": "routed",
    "ReferralUnroutable": "unroutable",
    "ReferralAccepted": "accepted",
    "ReferralDeclined": "declined",
    "ReferralEscalated": "escalated",
    "ServiceStarted": "in_service",
    "ServiceCompleted": "completed",
    "ServiceOutcomeRecorded": "completed",  # an outcome completes the referral too
    "ReferralWithdrawn": "withdrawn",
    # The coordinator decided no provider exists for the need (with a reason code).
    "ReferralClosedUnmet": "unmet",
}
STATUS_FIELDS = (
    "referral_id",
    "need",
    "status",
    "provider_id",
    "attempt",
    "unmet_reason",
    "updated_at",
)
NOTIFY_EVENTS = ("NotificationQueued", "NotificationDelivered", "NotificationFailed")


async def _timeline(
    conn: asyncpg.Connection, case_id: str, env: Envelope, signed: Envelope | None = None
) -> None:
    """Record ``env`` in the case's timeline; ``signed`` is the event as it arrived, when
    the timeline keeps less of its data than was signed."""
    signed = signed or env
    await conn.execute(
        """INSERT INTO "case".case_timeline (event_id, case_id, service, event_type,
               occurred_at, actor, stream_id, stream_version, correlation_id, causation_id, data,
               envelope)
           VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)
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
        # The signed event as verified on arrival (``audit verify`` checks it again).
        signed.to_json().decode() if signed.signature else None,
    )


async def apply_referral_event(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    await record_received(conn, env)  # statistics: referral facts and provider kinds
    data: dict[str, Any] = env.data
    case_id = data.get("case_id")
    if not isinstance(case_id, str):
        await keep_directory(conn, event)  # a plan goal's provider is checked against it
        return  # directory events: not about a case
    await _timeline(conn, case_id, env)
    status = REFERRAL_STATUS.get(env.event_name)
    if status is None:
        return
    await conn.execute(
        """INSERT INTO "case".case_referral_status AS s (referral_id, request_id, case_id, need,
               status, provider_id, attempt, updated_at, unmet_reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (referral_id) DO UPDATE SET
               request_id = coalesce(excluded.request_id, s.request_id),
               need = coalesce(excluded.need, s.need),
               status = excluded.status,
               provider_id = coalesce(excluded.provider_id, s.provider_id),
               attempt = coalesce(excluded.attempt, s.attempt),
               updated_at = excluded.updated_at,
               unmet_reason = excluded.unmet_reason
           WHERE s.updated_at <= excluded.updated_at""",
        data["referral_id"],
        data.get("request_id"),
        case_id,
        data.get("need"),
        status,
        data.get("provider_id"),
        data.get("attempt"),
        env.time,
        # Only an unmet decision carries one (an outcome's reason is another matter).
        data.get("reason_code") if status == "unmet" else None,
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
    await _timeline(conn, case_id, slim, signed=env)


async def referral_statuses(pool: asyncpg.Pool, case_id: str) -> dict[str, list[dict[str, Any]]]:
    """Per request id, the status of each need's referral."""
    rows = await pool.fetch(
        """SELECT referral_id, request_id, need, status, provider_id, attempt, updated_at,
               unmet_reason
           FROM "case".case_referral_status WHERE case_id = $1 ORDER BY need""",
        case_id,
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["request_id"] or "", []).append({k: r[k] for k in STATUS_FIELDS})
    return out


# -- the case's own events -------------------------------------------------------------------

# One statement for all the events of an append (an intake appends two), in their order
# (``seq`` numbers the rows as they are inserted).
_OWN_SQL = """INSERT INTO "case".case_timeline (event_id, case_id, service, event_type,
        occurred_at, actor, stream_id, stream_version, correlation_id, causation_id, data)
    SELECT u.e, u.s, 'case', u.t, u.o, u.a, u.s, u.v, u.c, u.k, u.d::jsonb
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::int[],
                $7::text[], $8::text[], $9::text[])
         WITH ORDINALITY AS u(e, s, t, o, a, v, c, k, d, i)
    ORDER BY u.i
    ON CONFLICT (event_id) DO NOTHING"""


async def record_own_events(conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
    """Put the case's own events in its timeline, in the transaction of their append.

    Idempotent (keyed by event id), so ``safepath replay`` may run it again over the store.
    Reads (``access-*`` streams) are not history: they are the access log.
    """
    rows = [
        (
            e.event_id,
            e.stream_id,
            e.event_type,
            e.occurred_at,
            e.metadata["actor"],
            e.stream_version,
            e.metadata.get("correlationid"),
            e.metadata.get("causationid"),
            json.dumps(e.data),
        )
        for e in events
        if e.event_type.startswith("org.safepath.case.") and not e.stream_id.startswith("access-")
    ]
    if rows:
        await conn.execute(_OWN_SQL, *(list(column) for column in zip(*rows, strict=True)))


# -- reading the history ---------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryFilter:
    since: datetime | None = None
    until: datetime | None = None
    types: tuple[str, ...] = ()  # full type names or bare event names

    def matches(self, event_type: str) -> bool:
        return not self.types or event_type in self.types or _name(event_type) in self.types


def _name(event_type: str) -> str:
    parts = event_type.split(".")
    return parts[3] if len(parts) > 3 else event_type


async def history_rows(pool: asyncpg.Pool, case_id: str, f: HistoryFilter) -> list[asyncpg.Record]:
    """The case's timeline (all three services) in order: time, then arrival."""
    args: list[Any] = [case_id]
    where = ["case_id = $1"]
    if f.since is not None:
        args.append(f.since)
        where.append(f"occurred_at >= ${len(args)}")
    if f.until is not None:
        args.append(f.until)
        where.append(f"occurred_at <= ${len(args)}")
    rows = await pool.fetch(
        f"""SELECT event_id, service, event_type, occurred_at, actor, stream_id, stream_version,
                   correlation_id, causation_id, data
            FROM "case".case_timeline WHERE {" AND ".join(where)}
            ORDER BY occurred_at, seq""",
        *args,
    )
    return [r for r in rows if f.matches(r["event_type"])]


# -- sealed blobs in event data --------------------------------------------------------------

_SEALED_KEYS = frozenset(Sealed.model_fields)
ERASED: dict[str, Any] = {"erased": True}


def open_blobs(
    data: Any, path: str, opener: Callable[[Sealed], dict[str, Any] | None], found: list[str]
) -> Any:
    """``data`` with every ``Sealed`` blob replaced by ``opener(blob)``.

    ``found`` collects the dotted paths of the blobs (``profile.identifying``, ``note``):
    the field *names* an access record lists, never their values.
    """
    if isinstance(data, dict):
        if set(data) == _SEALED_KEYS:
            name = path or "data"
            if name not in found:
                found.append(name)
            return opener(Sealed.model_validate(data))
        return {
            k: open_blobs(v, f"{path}.{k}" if path else k, opener, found) for k, v in data.items()
        }
    if isinstance(data, list):
        return [open_blobs(v, path, opener, found) for v in data]
    return data


def opener_for(key: bytes | None, case_id: str) -> Callable[[Sealed], dict[str, Any] | None]:
    """Decrypts with the case key; after erasure every blob reads ``{"erased": true}``."""

    def _open(blob: Sealed) -> dict[str, Any] | None:
        if key is None:
            return ERASED
        return open_sealed(key, blob, case_aad(case_id))

    return _open
