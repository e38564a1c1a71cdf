"""Sessions in a small Postgres table of the web app's own (``SAFEPATH_WEB_SESSION_STORE=
postgres``): a restart keeps people signed in, and any replica serves any browser.

The table ``web.session`` is the web app's only one (the issue allows "no database tables
of its own beyond sessions"); the app creates it at start-up if it is missing. What it
holds is useless to someone who reads it:

- the row's key is the SHA-256 of the session id (the cookie), never the id itself, so a
  copy of the table cannot be replayed as a cookie;
- the bearer token, the principal, the CSRF token and an OIDC sign-in under way are one
  AES-256-GCM box (``shared/crypto.seal``) under ``SAFEPATH_WEB_SESSION_KEY``, bound to
  the row's key (a box moved to another row does not open);
- only the language and the times are in clear: what idle expiry and clean-up need.

A box that does not open (another key, tampering) reads as no session there (the person
gets a fresh anonymous one), and is left in place for the replicas that hold the key.
Expired rows are deleted when read and, at most once a minute, all at once."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from services.web.sessions import Session
from shared.auth import AuthError, Principal
from shared.crypto import CryptoError, open_sealed, seal
from shared.events.base import Sealed

SCHEMA = "web"
KID = "web-session"
SWEEP_EVERY = timedelta(minutes=1)

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.session (
    id_hash bytea PRIMARY KEY,
    language text NOT NULL,
    last_seen timestamptz NOT NULL,
    token_expires timestamptz,
    box jsonb NOT NULL
);
CREATE INDEX IF NOT EXISTS session_last_seen ON {SCHEMA}.session (last_seen);
"""


def session_key_from(value: str | None) -> bytes:
    """``SAFEPATH_WEB_SESSION_KEY``: the base64 of exactly 32 random bytes."""
    try:
        key = base64.b64decode(value or "", validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise ValueError(
            "SAFEPATH_WEB_SESSION_KEY must be the base64 of exactly 32 random bytes"
            " when SAFEPATH_WEB_SESSION_STORE=postgres"
        )
    return key


def _id_hash(session_id: str) -> bytes:
    return hashlib.sha256(session_id.encode()).digest()


class PostgresSessionStore:
    def __init__(self, pool: asyncpg.Pool, key: bytes, idle: timedelta) -> None:
        self.pool = pool
        self.key = key
        self.idle = idle
        self._swept: datetime | None = None

    async def setup(self) -> None:
        async with self.pool.acquire() as conn:
            # One lock with the services' migrations: CREATE SCHEMA races otherwise.
            await conn.execute("SELECT pg_advisory_lock(7427001)")
            try:
                await conn.execute(DDL)
            finally:
                await conn.execute("SELECT pg_advisory_unlock(7427001)")

    def _box(self, s: Session, id_hash: bytes) -> str:
        secret: dict[str, Any] = {
            "csrf": s.csrf,
            "token": s.token,
            "principal": asdict(s.principal) if s.principal else None,
            "pending": s.pending,
        }
        return seal(self.key, KID, secret, id_hash).model_dump_json()

    def _open(self, box: str, id_hash: bytes) -> dict[str, Any] | None:
        try:
            return open_sealed(self.key, Sealed.model_validate_json(box), id_hash)
        except (CryptoError, ValueError):
            return None

    async def new(self, language: str, now: datetime) -> Session:
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), language, now)
        await self.save(s)
        if self._swept is None or now - self._swept >= SWEEP_EVERY:
            self._swept = now
            await self.pool.execute(
                f"DELETE FROM {SCHEMA}.session WHERE last_seen < $1 OR token_expires <= $2",
                now - self.idle,
                now,
            )
        return s

    async def get(self, session_id: str | None, now: datetime) -> Session | None:
        if not session_id:
            return None
        id_hash = _id_hash(session_id)
        row = await self.pool.fetchrow(
            f"SELECT language, last_seen, token_expires, box::text AS box"
            f" FROM {SCHEMA}.session WHERE id_hash = $1",
            id_hash,
        )
        if row is None:
            return None
        expired = now - row["last_seen"] > self.idle or (
            row["token_expires"] is not None and now >= row["token_expires"]
        )
        if expired:
            await self.end(session_id)
            return None
        # A box that does not open (a replica with another key, tampering) is no session
        # here, but is left alone: a wrongly keyed replica must not sign everyone out.
        secret = self._open(row["box"], id_hash)
        principal = None
        if secret is not None and secret["principal"] is not None:
            try:
                principal = Principal(**secret["principal"])
            except (AuthError, TypeError):
                secret = None
        if secret is None:
            return None
        # last_seen is written with the rest when the request ends (``save``).
        return Session(
            id=session_id,
            csrf=secret["csrf"],
            language=row["language"],
            last_seen=now,
            token=secret["token"],
            principal=principal,
            token_expires=row["token_expires"],
            pending=dict(secret["pending"] or {}),
        )

    async def sign_in(
        self, old: Session, token: str, principal: Principal, expires: datetime, now: datetime
    ) -> Session:
        await self.end(old.id)
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), old.language, now)
        s.token, s.principal, s.token_expires = token, principal, expires
        await self.save(s)
        return s

    async def end(self, session_id: str) -> None:
        await self.pool.execute(
            f"DELETE FROM {SCHEMA}.session WHERE id_hash = $1", _id_hash(session_id)
        )

    async def save(self, session: Session) -> None:
        """Write the session as it stands after a request (language, sign-in under way)."""
        id_hash = _id_hash(session.id)
        await self.pool.execute(
            f"INSERT INTO {SCHEMA}.session (id_hash, language, last_seen, token_expires, box)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (id_hash) DO UPDATE SET"
            " language = excluded.language, last_seen = excluded.last_seen,"
            " token_expires = excluded.token_expires, box = excluded.box",
            id_hash,
            session.language,
            session.last_seen,
            session.token_expires,
            self._box(session, id_hash),
        )
