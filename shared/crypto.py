"""Per-case encryption of identifying fields (AES-256-GCM), and the per-case key store.

Identifying data (names, birth dates, contacts, addresses, document numbers,
narratives) is sealed with the case's own 256-bit key before it goes into an event;
the event carries only a ``Sealed`` blob. The associated data binds each blob to its
case (``case_aad``), so a blob copied into another case's event does not open.

Keys live in their own table, wrapped (encrypted) with the master key from
``SAFEPATH_MASTER_KEY``, so the table alone reveals nothing. **Deleting a case's key
row is erasure**: the events, their hashes and the audit trail stay intact and every
sealed field of that case becomes unreadable for good (there is no other copy, and the
store never caches keys, so every process sees the erasure at once).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.events.base import Sealed

ALG = "AES-256-GCM"
KEY_BYTES = 32
NONCE_BYTES = 12
_WRAP_VERSION = b"\x01"  # first byte of a wrapped key, so the format can change later


class CryptoError(Exception):
    """Ciphertext that does not open: tampered, wrong key, wrong case, or malformed."""


class KeyErased(Exception):
    """The case's key has been erased (or never existed): its sealed data is gone."""


def case_aad(case_id: str) -> bytes:
    """Associated data binding a sealed blob to its case."""
    return b"safepath/case/" + case_id.encode()


def new_key() -> bytes:
    """A fresh random 256-bit key."""
    return AESGCM.generate_key(bit_length=256)


def _aead(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise CryptoError("key must be 32 bytes")
    return AESGCM(key)


def _json_default(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"cannot seal a {type(value).__name__}")


def canonical_json(data: dict[str, Any]) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same dict always gives the same bytes."""
    return json.dumps(
        data,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_json_default,
    ).encode()


def seal(key: bytes, kid: str, plaintext: dict[str, Any], aad: bytes) -> Sealed:
    """Encrypt ``plaintext`` (dates and UUIDs become strings) for one case.

    ``aad`` should be ``case_aad(case_id)``; ``kid`` names the key (e.g. the case id).
    """
    nonce = os.urandom(NONCE_BYTES)
    ct = _aead(key).encrypt(nonce, canonical_json(plaintext), aad)
    return Sealed(alg=ALG, kid=kid, nonce=_b64(nonce), ct=_b64(ct))


def open_sealed(key: bytes | None, sealed: Sealed, aad: bytes) -> dict[str, Any]:
    """The dict sealed in ``sealed``; ``KeyErased`` without a key, ``CryptoError`` on tamper."""
    if key is None:
        raise KeyErased("the case key has been erased")
    if sealed.alg != ALG:
        raise CryptoError("unsupported algorithm")
    try:
        nonce = base64.b64decode(sealed.nonce, validate=True)
        ct = base64.b64decode(sealed.ct, validate=True)
    except (binascii.Error, ValueError):
        raise CryptoError("sealed data is not valid base64") from None
    if len(nonce) != NONCE_BYTES:
        raise CryptoError("sealed data has a malformed nonce")
    try:
        plaintext = _aead(key).decrypt(nonce, ct, aad)
    except InvalidTag:
        raise CryptoError("sealed data failed authentication") from None
    data = json.loads(plaintext)
    if not isinstance(data, dict):
        raise CryptoError("sealed data is not an object")
    return data


def wrap_key(master: bytes, key: bytes, *, context: bytes = b"") -> bytes:
    """``key`` encrypted under the master key; ``context`` (the case id) is authenticated."""
    nonce = os.urandom(NONCE_BYTES)
    return _WRAP_VERSION + nonce + _aead(master).encrypt(nonce, key, context)


def unwrap_key(master: bytes, wrapped: bytes, *, context: bytes = b"") -> bytes:
    """The key inside ``wrapped``; ``CryptoError`` for a wrong master key or context."""
    if wrapped[:1] != _WRAP_VERSION or len(wrapped) < 1 + NONCE_BYTES:
        raise CryptoError("unknown wrapped-key format")
    nonce, ct = wrapped[1 : 1 + NONCE_BYTES], wrapped[1 + NONCE_BYTES :]
    try:
        key = _aead(master).decrypt(nonce, ct, context)
    except InvalidTag:
        raise CryptoError("wrapped key failed authentication") from None
    if len(key) != KEY_BYTES:
        raise CryptoError("wrapped key has the wrong length")
    return key


def master_key_from_setting(value: str) -> bytes:
    """Decode ``SAFEPATH_MASTER_KEY`` (base64 of 32 random bytes)."""
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("SAFEPATH_MASTER_KEY must be base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError("SAFEPATH_MASTER_KEY must decode to 32 bytes")
    return key


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


# -- key stores -------------------------------------------------------------------------


class SqlExecutor(Protocol):
    """The part of an asyncpg ``Connection`` or ``Pool`` the key store uses."""

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> str: ...


class KeyStore(Protocol):
    """Per-case keys. ``conn`` (where an implementation has one) joins the caller's
    transaction, so a case and its key are created, or not, together."""

    async def get(self, case_id: str, conn: SqlExecutor | None = None) -> bytes | None:
        """The case's key, or None if it was erased or never created."""
        ...

    async def create(self, case_id: str, conn: SqlExecutor | None = None) -> bytes:
        """A new key for the case, or its existing key when it already has one."""
        ...

    async def erase(self, case_id: str, conn: SqlExecutor | None = None) -> bool:
        """Delete the case's key for good; True if there was one."""
        ...


class MemoryKeyStore:
    """A ``KeyStore`` in a dict, for unit tests of services."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    async def get(self, case_id: str, conn: SqlExecutor | None = None) -> bytes | None:
        return self.keys.get(case_id)

    async def create(self, case_id: str, conn: SqlExecutor | None = None) -> bytes:
        return self.keys.setdefault(case_id, new_key())

    async def erase(self, case_id: str, conn: SqlExecutor | None = None) -> bool:
        return self.keys.pop(case_id, None) is not None


# ``{schema}`` is the quoted schema name, as in the migration files.
CASE_KEY_TABLE_SQL = """\
CREATE TABLE IF NOT EXISTS {schema}.case_key (
    case_id     text PRIMARY KEY,
    wrapped_key bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE {schema}.case_key IS
    'Per-case data keys, wrapped with SAFEPATH_MASTER_KEY. '
    'Deleting a row erases the case''s identifying data.';
"""

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class PgKeyStore:
    """Case keys in ``<schema>.case_key``, wrapped with ``master_key``.

    The store does not own ``pool`` (it never closes it). Keys are never cached, so an
    erasure is seen by every process at once.
    """

    def __init__(self, pool: SqlExecutor, schema: str, master_key: bytes) -> None:
        if not _IDENT.match(schema):
            raise ValueError("schema must be a plain lower-case identifier")
        if len(master_key) != KEY_BYTES:
            raise ValueError("master key must be 32 bytes")
        self.pool = pool
        self._master = master_key
        table = f'"{schema}".case_key'
        self._sql_get = f"SELECT wrapped_key FROM {table} WHERE case_id = $1"
        self._sql_insert = (
            f"INSERT INTO {table} (case_id, wrapped_key) VALUES ($1, $2) "
            "ON CONFLICT (case_id) DO NOTHING RETURNING wrapped_key"
        )
        self._sql_delete = f"DELETE FROM {table} WHERE case_id = $1"

    def _unwrap(self, case_id: str, wrapped: bytes) -> bytes:
        return unwrap_key(self._master, bytes(wrapped), context=case_aad(case_id))

    async def get(self, case_id: str, conn: SqlExecutor | None = None) -> bytes | None:
        wrapped = await (conn or self.pool).fetchval(self._sql_get, case_id)
        return None if wrapped is None else self._unwrap(case_id, wrapped)

    async def create(self, case_id: str, conn: SqlExecutor | None = None) -> bytes:
        db = conn or self.pool
        key = new_key()
        wrapped = wrap_key(self._master, key, context=case_aad(case_id))
        if await db.fetchval(self._sql_insert, case_id, wrapped) is not None:
            return key
        # Someone created it first (a retry, or a concurrent request): use theirs.
        existing = await db.fetchval(self._sql_get, case_id)
        if existing is None:
            raise CryptoError("case key vanished while being created")
        return self._unwrap(case_id, existing)

    async def erase(self, case_id: str, conn: SqlExecutor | None = None) -> bool:
        status = await (conn or self.pool).execute(self._sql_delete, case_id)
        return status.endswith(" 1")
