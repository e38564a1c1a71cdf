"""Providers' webhook endpoints and their signing secrets (rotation with overlap).

Kept in a table, not in events: every notify event is published on the bus, and a
secret must never travel there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from services.notify.domain.signing import (
    WebhookSecret,
    active_secrets,
    generate_secret,
    rotate,
)
from shared.migrations import quote_ident


@dataclass(frozen=True)
class Endpoint:
    provider_id: str
    url: str
    secrets: tuple[WebhookSecret, ...]

    def signing_secrets(self, now: datetime) -> list[str]:
        return active_secrets(self.secrets, now)


@dataclass(frozen=True)
class Registered:
    endpoint: Endpoint
    created: bool
    new_secret: str | None  # shown once: when created or rotated


class Webhooks:
    def __init__(self, schema: str) -> None:
        self.t = f"{quote_ident(schema)}.webhook"

    async def get(self, conn: asyncpg.Connection, provider_id: str) -> Endpoint | None:
        row = await conn.fetchrow(
            f"SELECT url, secrets::text AS secrets FROM {self.t} WHERE provider_id = $1",
            provider_id,
        )
        if row is None:
            return None
        secrets = tuple(
            WebhookSecret(
                s["secret"],
                datetime.fromisoformat(s["expires_at"]) if s.get("expires_at") else None,
            )
            for s in json.loads(row["secrets"])
        )
        return Endpoint(provider_id, row["url"], secrets)

    async def register(
        self,
        conn: asyncpg.Connection,
        provider_id: str,
        url: str,
        *,
        rotate_secret: bool,
        now: datetime,
        overlap: timedelta,
    ) -> Registered:
        """Set the endpoint; a first registration or ``rotate_secret`` makes a new secret."""
        current = await self.get(conn, provider_id)
        new_secret: str | None = None
        if current is None:
            new_secret = generate_secret()
            secrets: tuple[WebhookSecret, ...] = (WebhookSecret(new_secret),)
        elif rotate_secret:
            new_secret = generate_secret()
            secrets = rotate(current.secrets, new_secret, now, overlap)
        else:
            secrets = current.secrets
        stored = [
            {"secret": s.secret, "expires_at": s.expires_at.isoformat() if s.expires_at else None}
            for s in secrets
        ]
        await conn.execute(
            f"""INSERT INTO {self.t} (provider_id, url, secrets) VALUES ($1, $2, $3::jsonb)
                ON CONFLICT (provider_id) DO UPDATE
                SET url = excluded.url, secrets = excluded.secrets, updated_at = now()""",
            provider_id,
            url,
            json.dumps(stored),
        )
        endpoint = Endpoint(provider_id, url, secrets)
        return Registered(endpoint, created=current is None, new_secret=new_secret)
