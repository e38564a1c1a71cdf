"""``Idempotency-Key`` for HTTP writes: a retried request gets the first response.

The key row is inserted in the same transaction as the write's events, so either both
commit or neither does. A concurrent retry blocks on the row until the first commits,
then replays its response. Reusing a key for a different request is refused.

Keys are per principal: ``shared.http_writes`` passes every claim of the caller's token
(``principal_key``), and authorises the caller before it replays anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import asyncpg
from asyncpg.transaction import Transaction

from shared.migrations import quote_ident


class IdempotencyKeyReused(Exception):
    """The key was already used for a different request by the same caller."""


@dataclass
class Replay:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def fingerprint(method: str, path: str, body: Any) -> bytes:
    raw = json.dumps([method, path, body], sort_keys=True, default=str).encode()
    return hashlib.sha256(raw).digest()


class IdempotentWrite:
    """``async with IdempotentWrite(pool, schema, principal, key, fp) as w:`` then either
    return ``w.replay`` or do the work on ``w.conn`` and call ``w.save(...)``."""

    def __init__(
        self, pool: asyncpg.Pool, schema: str, principal: str, key: str | None, request_hash: bytes
    ) -> None:
        self.pool = pool
        self.table = f"{quote_ident(schema)}.idempotency_key"
        self.principal = principal
        self.key = key
        self.request_hash = request_hash
        self.replay: Replay | None = None
        self._conn: asyncpg.Connection | None = None
        self._tx: Transaction | None = None

    @property
    def conn(self) -> asyncpg.Connection:
        assert self._conn is not None
        return self._conn

    async def __aenter__(self) -> IdempotentWrite:
        self._conn = await self.pool.acquire()
        self._tx = self._conn.transaction()
        await self._tx.start()
        if self.key is None:
            return self
        try:
            inserted = await self._conn.fetchval(
                f"INSERT INTO {self.table} (principal, key, request_hash) VALUES ($1, $2, $3)"
                " ON CONFLICT DO NOTHING RETURNING 1",
                self.principal,
                self.key,
                self.request_hash,
            )
            if inserted is None:
                row = await self._conn.fetchrow(
                    f"SELECT request_hash, status, body::text AS body, headers::text AS headers"
                    f" FROM {self.table} WHERE principal = $1 AND key = $2",
                    self.principal,
                    self.key,
                )
                if row["request_hash"] != self.request_hash:
                    raise IdempotencyKeyReused(self.key)
                self.replay = Replay(
                    row["status"], json.loads(row["body"]), json.loads(row["headers"] or "{}")
                )
        except BaseException:
            await self._finish(commit=False)
            raise
        return self

    def save(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._response = (status, body, headers or {})

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        ok = et is None
        try:
            if ok and self.key is not None and self.replay is None:
                status, body, headers = getattr(self, "_response", (200, None, {}))
                await self.conn.execute(
                    f"UPDATE {self.table} SET status = $3, body = $4::jsonb, headers = $5::jsonb"
                    " WHERE principal = $1 AND key = $2",
                    self.principal,
                    self.key,
                    status,
                    json.dumps(body, default=str),
                    json.dumps(headers),
                )
        except BaseException:
            await self._finish(commit=False)
            raise
        await self._finish(commit=ok)

    async def _finish(self, *, commit: bool) -> None:
        assert self._tx is not None and self._conn is not None
        try:
            if commit:
                await self._tx.commit()
            else:
                await self._tx.rollback()
        finally:
            await self.pool.release(self._conn)
            self._conn = None
