"""Providers' webhook endpoints and their signing secrets (rotation with overlap).

Kept in a table, not in events: every notify event is published on the bus, and a
secret must never travel there. In the table the secrets are encrypted (envelope
encryption, ``shared/crypto.py``): each provider's row has its own data key, wrapped with
``SAFEPATH_MASTER_KEY``; each secret is sealed (AES-256-GCM) under that data key. Both are
bound to the provider id (wrap context and associated data), so a row's secrets copied
into another provider's row do not open there. Secrets are decrypted only to sign a
delivery (``get``); registration and rotation handle them encrypted, except the new one,
which is returned once to be shown to the provider.

Rows written in clear by an earlier version (``wrapped_key`` NULL) are still read, and
``encrypt_plaintext_rows`` (run at start-up) encrypts them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.notify.domain.signing import (
    SECRET_BYTES,
    WebhookSecret,
    active_secrets,
    retire,
    secret_from_bytes,
)
from shared.crypto import CryptoError, new_key, open_sealed, seal, unwrap_key, wrap_key
from shared.events.base import Sealed
from shared.logging import get_logger
from shared.migrations import quote_ident

log = get_logger("safepath.notify")

# n -> n random bytes: the operating system's (os.urandom) unless a test passes its own.
Entropy = Callable[[int], bytes]


def generate_secret(entropy: Entropy = os.urandom) -> str:
    """A new ``whsec_`` signing secret from ``entropy``."""
    return secret_from_bytes(entropy(SECRET_BYTES))


def _bound_to(provider_id: str) -> bytes:
    """Wrap context and associated data: a provider's key and secrets open only for it."""
    return b"safepath/notify/webhook/" + provider_id.encode()


@dataclass(frozen=True)
class Endpoint:
    provider_id: str
    url: str
    secrets: tuple[WebhookSecret, ...]

    def signing_secrets(self, now: datetime) -> list[str]:
        return active_secrets(self.secrets, now)


@dataclass(frozen=True)
class StoredSecret:
    """A signing secret as stored: sealed under the provider's data key."""

    sealed: Sealed
    expires_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def expiring(self, at: datetime) -> StoredSecret:
        return replace(self, expires_at=at)


@dataclass(frozen=True)
class Registered:
    provider_id: str
    url: str
    created: bool
    new_secret: str | None  # shown once: when created or rotated
    active_secrets: int  # secrets deliveries are signed with now
    previous_expire_at: datetime | None  # when the rotated-out ones stop signing


class Webhooks:
    def __init__(self, schema: str, master_key: bytes, entropy: Entropy = os.urandom) -> None:
        self.t = f"{quote_ident(schema)}.webhook"
        self._master = master_key
        self._entropy = entropy

    # -- delivery: the only place secrets are decrypted ------------------------------------

    async def get(self, conn: asyncpg.Connection, provider_id: str) -> Endpoint | None:
        """The endpoint with its secrets in clear, to sign a delivery. A secret that does not
        open (a row tampered with, another master key) is left out and logged, by provider
        id only."""
        row = await self._row(conn, provider_id)
        return None if row is None else self._endpoint(provider_id, row)

    async def get_many(
        self, conn: asyncpg.Connection, provider_ids: Collection[str]
    ) -> dict[str, Endpoint]:
        """``get`` for several providers in one statement; a provider with no webhook is
        left out."""
        rows = await conn.fetch(
            f"SELECT provider_id, url, secrets::text AS secrets, wrapped_key FROM {self.t}"
            " WHERE provider_id = ANY($1::text[])",
            list(provider_ids),
        )
        return {r["provider_id"]: self._endpoint(r["provider_id"], r) for r in rows}

    def _endpoint(self, provider_id: str, row: Any) -> Endpoint:
        """The stored row with its secrets opened (see ``get``)."""
        entries = json.loads(row["secrets"])
        if row["wrapped_key"] is None:  # written in clear by an earlier version
            secrets = tuple(_plain(e) for e in entries if "secret" in e)
            return Endpoint(provider_id, row["url"], secrets)
        opened: list[WebhookSecret] = []
        try:
            key = unwrap_key(
                self._master, bytes(row["wrapped_key"]), context=_bound_to(provider_id)
            )
        except CryptoError:
            log.error("webhook_key_unreadable", provider_id=provider_id)
            return Endpoint(provider_id, row["url"], ())
        for entry in entries:
            try:
                stored = _stored(entry)
                secret = open_sealed(key, stored.sealed, _bound_to(provider_id))["secret"]
            except (CryptoError, KeyError, TypeError, ValueError, ValidationError):
                log.error("webhook_secret_unreadable", provider_id=provider_id)
                continue
            if isinstance(secret, str):
                opened.append(WebhookSecret(secret, stored.expires_at))
        return Endpoint(provider_id, row["url"], tuple(opened))

    # -- registration ----------------------------------------------------------------------

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
        row = await self._row(conn, provider_id, for_update=True)
        key, stored = self._encrypted(provider_id, row)
        new_secret: str | None = None
        if row is None or rotate_secret:
            new_secret = generate_secret(self._entropy)
            kept = retire(stored, now, overlap) if row is not None else []
            stored = [*kept, StoredSecret(self._seal(key, provider_id, new_secret))]
        await self._save(conn, provider_id, url, key, stored)
        expiring = [s.expires_at for s in stored if s.expires_at is not None]
        return Registered(
            provider_id=provider_id,
            url=url,
            created=row is None,
            new_secret=new_secret,
            active_secrets=sum(1 for s in stored if s.active_at(now)),
            previous_expire_at=max(expiring) if expiring else None,
        )

    async def encrypt_plaintext_rows(self, pool: asyncpg.Pool) -> int:
        """Encrypt every row an earlier version stored in clear; how many there were."""
        done = 0
        async with pool.acquire() as conn, conn.transaction():
            for r in await conn.fetch(
                f"SELECT provider_id FROM {self.t} WHERE wrapped_key IS NULL FOR UPDATE"
            ):
                row = await self._row(conn, r["provider_id"])
                key, stored = self._encrypted(r["provider_id"], row)
                await self._save(conn, r["provider_id"], row["url"], key, stored)
                done += 1
        return done

    # -- storage ---------------------------------------------------------------------------

    async def _row(
        self, conn: asyncpg.Connection, provider_id: str, *, for_update: bool = False
    ) -> Any:
        return await conn.fetchrow(
            f"SELECT url, secrets::text AS secrets, wrapped_key FROM {self.t}"
            f" WHERE provider_id = $1{' FOR UPDATE' if for_update else ''}",
            provider_id,
        )

    def _encrypted(self, provider_id: str, row: Any) -> tuple[bytes, list[StoredSecret]]:
        """The row's data key and its secrets, encrypted (a row in clear is sealed now)."""
        if row is not None and row["wrapped_key"] is not None:
            try:
                key = unwrap_key(
                    self._master, bytes(row["wrapped_key"]), context=_bound_to(provider_id)
                )
                return key, [_stored(e) for e in json.loads(row["secrets"])]
            except (CryptoError, KeyError, TypeError, ValueError, ValidationError):
                # Unreadable (tampered with, another master key): start again; the provider
                # gets a new secret by rotating.
                log.error("webhook_key_unreadable", provider_id=provider_id)
                return new_key(), []
        key = new_key()
        plain = [_plain(e) for e in json.loads(row["secrets"])] if row is not None else []
        sealed = [StoredSecret(self._seal(key, provider_id, s.secret), s.expires_at) for s in plain]
        return key, sealed

    def _seal(self, key: bytes, provider_id: str, secret: str) -> Sealed:
        return seal(key, provider_id, {"secret": secret}, _bound_to(provider_id))

    async def _save(
        self,
        conn: asyncpg.Connection,
        provider_id: str,
        url: str,
        key: bytes,
        stored: list[StoredSecret],
    ) -> None:
        entries = [
            {
                "sealed": s.sealed.model_dump(),
                "expires_at": s.expires_at.isoformat() if s.expires_at else None,
            }
            for s in stored
        ]
        wrapped = wrap_key(self._master, key, context=_bound_to(provider_id))
        await conn.execute(
            f"""INSERT INTO {self.t} (provider_id, url, secrets, wrapped_key)
                VALUES ($1, $2, $3::jsonb, $4)
                ON CONFLICT (provider_id) DO UPDATE
                SET url = excluded.url, secrets = excluded.secrets,
                    wrapped_key = excluded.wrapped_key, updated_at = now()""",
            provider_id,
            url,
            json.dumps(entries),
            wrapped,
        )


def _expiry(entry: dict[str, Any]) -> datetime | None:
    raw = entry.get("expires_at")
    return datetime.fromisoformat(raw) if raw else None


def _stored(entry: dict[str, Any]) -> StoredSecret:
    return StoredSecret(Sealed.model_validate(entry["sealed"]), _expiry(entry))


def _plain(entry: dict[str, Any]) -> WebhookSecret:
    return WebhookSecret(str(entry["secret"]), _expiry(entry))
