"""The service directory as the case service hears it (a plan goal's responsible provider).

The referral service owns the directory; the case service keeps only what checking a
goal's ``provider_id`` needs (``"case".directory_provider``: the id, the needs it offers,
whether suspended), from the directory events its referral consumer receives, in the
inbox transaction. Until it has heard any directory (a service started alone, or before
the referral service published one) it cannot check: ``Directory.known`` is then False.
"""

from __future__ import annotations

import asyncpg

from services.case.domain.plan import ResponsibleProvider
from shared.events.base import Event
from shared.events.referral import (
    ProviderRegistered,
    ProviderReinstated,
    ProviderSuspended,
    ProviderUpdated,
)

TABLE = '"case".directory_provider'


async def keep_directory(conn: asyncpg.Connection, event: Event) -> None:
    """Apply a directory event (idempotent: an upsert or an update to the same value)."""
    if isinstance(event, ProviderRegistered | ProviderUpdated):
        await conn.execute(
            f"""INSERT INTO {TABLE} (provider_id, services) VALUES ($1, $2)
                ON CONFLICT (provider_id) DO UPDATE
                SET services = excluded.services, updated_at = now()""",
            event.provider.id,
            list(event.provider.services),
        )
    elif isinstance(event, ProviderSuspended | ProviderReinstated):
        await conn.execute(
            f"UPDATE {TABLE} SET suspended = $2, updated_at = now() WHERE provider_id = $1",
            event.provider_id,
            isinstance(event, ProviderSuspended),
        )


async def directory_entry(
    pool: asyncpg.Pool, provider_id: str | None
) -> tuple[bool, ResponsibleProvider | None]:
    """(whether any directory was heard, what it says of ``provider_id``)."""
    if provider_id is None:
        return False, None
    row = await pool.fetchrow(
        f"""SELECT * FROM (
                SELECT services, suspended FROM {TABLE} WHERE provider_id = $1
                UNION ALL SELECT NULL, NULL WHERE EXISTS (SELECT 1 FROM {TABLE})
            ) q ORDER BY q.services IS NULL LIMIT 1""",
        provider_id,
    )
    if row is None:
        return False, None  # no directory heard at all: nothing to check against
    if row["services"] is None:
        return True, None  # a directory, without that provider
    return True, ResponsibleProvider(
        services=tuple(row["services"]), suspended=bool(row["suspended"])
    )
