"""The casualty records' list (``<schema>.casualty_summary``): clear facts and scope only.

Written in the transaction of each casualty event, so the list never lags the records;
nothing identifying is ever in it (names, dates and the national record id stay sealed
in the events). Paged newest first by id (uuid7 ids sort by time), like the cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from services.case.app.policy import scope_filter
from shared.auth import Principal
from shared.eventstore import StoredEvent
from shared.migrations import quote_ident

_CLEAR = (
    "sex",
    "age_band",
    "incident_district",
    "incident_year",
    "device_type",
    "activity",
)
COLUMNS = (
    "casualty_id",
    "region",
    "office",
    "caseworker",
    *_CLEAR,
    "recorded_at",
    "updated_at",
    "version",
    "identity_erased",
)


class CasualtyList:
    def __init__(self, schema: str) -> None:
        self.table = f"{quote_ident(schema)}.casualty_summary"

    async def project(self, conn: asyncpg.Connection, events: Sequence[StoredEvent]) -> None:
        """Apply casualty events, in stream order, in the write's transaction."""
        for e in events:
            d, at, v = e.data, e.occurred_at, e.stream_version
            if e.event_name == "CasualtyRecorded":
                await conn.execute(
                    f"INSERT INTO {self.table} (casualty_id, region, office, caseworker,"
                    f" {', '.join(_CLEAR)}, recorded_at, updated_at, version)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12)"
                    " ON CONFLICT (casualty_id) DO NOTHING",
                    e.stream_id,
                    d["region"],
                    d.get("office"),
                    d["caseworker"],
                    *(d.get(c) for c in _CLEAR),
                    at,
                    v,
                )
            elif e.event_name == "CasualtyCorrected":
                sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(_CLEAR, start=4))
                await conn.execute(
                    f"UPDATE {self.table} SET updated_at = $2, version = $3, {sets}"
                    " WHERE casualty_id = $1",
                    e.stream_id,
                    at,
                    v,
                    *(d.get(c) for c in _CLEAR),
                )
            elif e.event_name == "IdentityErased":
                await conn.execute(
                    f"UPDATE {self.table} SET identity_erased = true, updated_at = $2,"
                    " version = $3 WHERE casualty_id = $1",
                    e.stream_id,
                    at,
                    v,
                )

    async def page(
        self, pool: asyncpg.Pool, principal: Principal, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Records in the caller's scope, newest first, and the last id when more follow."""
        cond, args = scope_filter(principal, 2)
        if after is not None:
            args.append(after)
            cond += f" AND casualty_id < ${len(args) + 1}"
        rows = await pool.fetch(
            f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE {cond}"
            " ORDER BY casualty_id DESC LIMIT $1",
            limit + 1,
            *args,
        )
        page = [dict(r) for r in rows[:limit]]
        return page, page[-1]["casualty_id"] if len(rows) > limit else None
