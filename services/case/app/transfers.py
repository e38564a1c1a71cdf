"""Who is the receiving side of a pending transfer (issue 13 item 7).

The receiving side cannot see the case until it accepts (the sending office keeps it), so
accepting or refusing is checked here instead of by scope: the caseworker the request
names, or a caseworker or supervisor of the receiving office (their token's ``office``).
Nobody else, whatever their role, learns that the case exists (404).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.case.domain import Case
from shared.auth import Principal
from shared.eventstore import StoredEvent

TABLE = '"case".transfer_request'
_ANSWERS = (
    "CaseTransferAccepted",
    "CaseTransferRefused",
    "CaseTransferCancelled",
    "CaseTransferExpired",
)


def receives_transfer(principal: Principal, case: Case, transfer_id: str) -> bool:
    """Whether ``principal`` is the receiving side of the request ``transfer_id``: the
    pending one, or the last one that expired (whose receiving side then hears 409
    ``transfer_expired`` instead of 404; anyone else still learns nothing)."""
    request = next(
        (
            t
            for t in (case.pending_transfer, case.lapsed_transfer)
            if t is not None and t.transfer_id == transfer_id
        ),
        None,
    )
    if request is None or principal.role not in ("caseworker", "supervisor"):
        return False
    if principal.role == "caseworker" and request.to_caseworker is not None:
        return principal.sub == request.to_caseworker
    to_office = request.to_office or case.office
    return principal.office is not None and principal.office == to_office


def receiving_side_of(transfer_id: str) -> Callable[[Principal, Case], bool]:
    """``receives_transfer`` for one request: the ``may_act`` of its answers, so being the
    receiving side of one request never lets a principal answer another."""
    return lambda principal, case: receives_transfer(principal, case, transfer_id)


async def project_transfers(conn: asyncpg.Connection, stored: Sequence[StoredEvent]) -> None:
    """Keep each case's pending request (guarded by stream version: idempotent)."""
    for e in stored:
        if e.event_name == "CaseTransferRequested":
            d = e.data
            await conn.execute(
                f"""INSERT INTO {TABLE} AS t (case_id, transfer_id, from_office, to_caseworker,
                        to_office, requested_at, version, pending, expires_at)
                    VALUES ($1, $2, $3, $4, coalesce($5, $3), $6, $7, true, $8)
                    ON CONFLICT (case_id) DO UPDATE SET
                        transfer_id = excluded.transfer_id, from_office = excluded.from_office,
                        to_caseworker = excluded.to_caseworker, to_office = excluded.to_office,
                        requested_at = excluded.requested_at, version = excluded.version,
                        pending = true, expires_at = excluded.expires_at
                    WHERE t.version < excluded.version""",
                e.stream_id,
                d["transfer_id"],
                d["from_office"],
                d["to_caseworker"],
                d["to_office"],
                e.occurred_at,
                e.stream_version,
                _time(d.get("expires_at")),
            )
        elif e.event_name in _ANSWERS:
            await conn.execute(
                f"""UPDATE {TABLE} SET pending = false, version = $2
                    WHERE case_id = $1 AND version < $2""",
                e.stream_id,
                e.stream_version,
            )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def incoming(pool: asyncpg.Pool, principal: Principal, now: datetime) -> list[dict[str, Any]]:
    """The pending requests ``principal`` may answer, as ``receives_transfer`` decides, and
    still may: one past its expiry is left out before the transfer timer records it."""
    args: list[Any]
    if principal.role == "caseworker":
        where = "(to_caseworker = $1 OR (to_caseworker IS NULL AND to_office = $2))"
        args = [principal.sub, principal.office]
    elif principal.role == "supervisor" and principal.office is not None:
        where, args = "to_office = $1", [principal.office]
    else:
        return []
    rows = await pool.fetch(
        f"""SELECT case_id, transfer_id, from_office, to_caseworker, to_office, requested_at,
                expires_at
            FROM {TABLE} WHERE pending AND {where}
                AND (expires_at IS NULL OR expires_at > ${len(args) + 1})
            ORDER BY requested_at, case_id LIMIT 500""",
        *args,
        now,
    )
    return [dict(r) for r in rows]
