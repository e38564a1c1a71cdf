"""Possible duplicates across offices, found through blind identity keys.

At intake and on a profile change the app layer has the person's identifying details in
plaintext (the caller just sent them); it derives the blind keys (``domain/person_keys``),
looks them up among every other case's keys, records the pairs found and replaces this
case's own keys, all in the write's transaction. No other case is ever decrypted. Erasure
deletes the case's keys and its pending pairs. The index key comes from the settings
(``SAFEPATH_PERSON_INDEX_KEY``, else derived from the master key) and is never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from services.case.app.policy import scope_filter
from services.case.domain.person_keys import (
    Identity,
    Probe,
    blind,
    lookup_keys,
    score,
    stored_keys,
)
from shared.auth import Principal
from shared.crypto import master_key_from_setting
from shared.events.case import IdentifyingDetails
from shared.migrations import quote_ident
from shared.settings import Settings

MAX_FOUND = 20  # a common name must not flood an intake answer or the queue
_LOCK_SPACE = 7427014  # advisory lock key space of the person index (issue 14)


def index_key_from(settings: Settings) -> bytes:
    """``SAFEPATH_PERSON_INDEX_KEY`` when set; else a key derived from the master key
    (HMAC-SHA256 with a fixed label), so an installation always has exactly one."""
    if settings.person_index_key:
        return settings.person_index_key.encode()
    master = master_key_from_setting(settings.master_key)
    return hmac.new(master, b"safepath person index key v1", hashlib.sha256).digest()


def identity_of(details: IdentifyingDetails, sex: str, today: date) -> Identity:
    born = details.date_of_birth
    estimated = born is None and details.estimated_age_years is not None
    year = None
    if born is not None:
        year = born.year
    elif details.estimated_age_years is not None:
        year = today.year - details.estimated_age_years
    return Identity(
        given_name=details.given_name,
        family_name=details.family_name,
        sex=sex,
        date_of_birth=born,
        birth_year=year,
        year_estimated=estimated,
    )


class BadPairCursor(ValueError):
    pass


@dataclass(frozen=True)
class PairPosition:
    """Where a page of the duplicates queue ended: its last pair (the cursor's content:
    a time and two case ids, nothing identifying)."""

    found_at: datetime
    case_a: str
    case_b: str

    def cursor(self) -> str:
        raw = json.dumps([self.found_at.isoformat(), self.case_a, self.case_b])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def from_cursor(cls, cursor: str) -> PairPosition:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            found_at, a, b = json.loads(raw)
            when = datetime.fromisoformat(found_at)
            if when.tzinfo is None:
                raise ValueError("naive")
            return cls(when, str(uuid.UUID(a)), str(uuid.UUID(b)))
        except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
            raise BadPairCursor("the cursor is not one this service handed out") from None


@dataclass(frozen=True)
class PossibleDuplicate:
    case_id: str
    score: float


@dataclass(frozen=True, repr=False)  # its probes spell the names out
class BlindKeys:
    """One write's keys, blinded under the index key: what it looks up (with the weight of
    each) and what it stores."""

    probes: list[Probe]
    probe_blinds: list[bytes]
    stored_kinds: list[str]
    stored: list[bytes]


@dataclass(frozen=True)
class PersonIndex:
    """The blind index in ``<schema>.person_key`` and the pairs in ``duplicate_pair``."""

    schema: str
    key: bytes

    @property
    def q(self) -> str:
        return quote_ident(self.schema)

    def __repr__(self) -> str:  # never show the key
        return f"PersonIndex(schema={self.schema!r})"

    def keys_of(self, identity: Identity) -> BlindKeys:
        """``identity``'s lookups and stored keys, blinded under this index's key."""
        probes = lookup_keys(identity)
        stored = stored_keys(identity)
        return BlindKeys(
            probes,
            [blind(self.key, p) for p in probes],
            [k.kind for k in stored],
            [blind(self.key, k) for k in stored],
        )

    async def find(
        self,
        conn: asyncpg.Connection | asyncpg.Pool,
        case_id: str,
        keys: BlindKeys,
        *,
        and_store: bool = False,
    ) -> list[PossibleDuplicate]:
        """Other cases whose keys match ``keys``' lookups, best first (at most
        ``MAX_FOUND``).

        ``and_store``: the same statement also stores this case's keys (a new case's, so
        nothing is replaced). The lookup reads the table as it was when the statement
        began, and never this case's rows anyway, so it finds what it would alone."""
        if not keys.probes:
            if and_store:
                await self._store(conn, case_id, keys)
            return []
        lookup = (
            f"SELECT case_id, kind, key FROM {self.q}.person_key"
            " WHERE key = ANY($1::bytea[]) AND case_id <> $2"
        )
        if and_store and keys.stored:
            rows = await conn.fetch(
                f"WITH stored AS ({self._insert_keys('$2', '$3', '$4')}) {lookup}",
                keys.probe_blinds,
                case_id,
                keys.stored_kinds,
                keys.stored,
            )
        else:
            rows = await conn.fetch(lookup, keys.probe_blinds, case_id)
        weights: dict[tuple[str, bytes], float] = {}
        for p, b in zip(keys.probes, keys.probe_blinds, strict=True):
            weights[(p.kind, b)] = max(weights.get((p.kind, b), 0.0), score(p))
        best: dict[str, float] = {}
        for r in rows:
            w = weights.get((r["kind"], bytes(r["key"])))
            if w is not None:
                best[r["case_id"]] = max(best.get(r["case_id"], 0.0), w)
        ranked = sorted(best.items(), key=lambda x: (-x[1], x[0]))[:MAX_FOUND]
        return [PossibleDuplicate(c, s) for c, s in ranked]

    async def index(
        self,
        conn: asyncpg.Connection,
        case_id: str,
        identity: Identity,
        now: datetime,
        *,
        new_case: bool = False,
    ) -> list[PossibleDuplicate]:
        """Find this case's possible duplicates, record the pairs, replace its keys.

        ``new_case``: the case was opened in this transaction, so it has no keys to
        delete, and its keys are stored by the lookup's own statement (two round trips
        fewer at intake). The keys are derived and blinded once, for the locks, the
        lookup and the store alike (some forty HMACs: done twice, the index was about a
        quarter of the case service's CPU at intake)."""
        keys = self.keys_of(identity)
        await self._one_at_a_time(conn, keys)
        if new_case:  # nothing to replace: look up and store in one statement
            found = await self.find(conn, case_id, keys, and_store=True)
        else:
            found = await self.find(conn, case_id, keys)
            await conn.execute(f"DELETE FROM {self.q}.person_key WHERE case_id = $1", case_id)
            await self._store(conn, case_id, keys)
        if found:
            # A pair already decided keeps its decision; a pending one keeps its best score.
            await conn.executemany(
                f"INSERT INTO {self.q}.duplicate_pair (case_a, case_b, score, found_at)"
                " VALUES (least($1, $2), greatest($1, $2), $3, $4)"
                " ON CONFLICT (case_a, case_b) DO UPDATE"
                " SET score = greatest(duplicate_pair.score, excluded.score)",
                [(case_id, d.case_id, d.score, now) for d in found],
            )
        return found

    def _insert_keys(self, case_id: str, kinds: str, keys: str) -> str:
        """All of a case's keys in one statement (not one per key); the arguments name
        the statement's parameters."""
        return (
            f"INSERT INTO {self.q}.person_key (case_id, kind, key)"
            f" SELECT {case_id}, k.kind, k.key"
            f" FROM unnest({kinds}::text[], {keys}::bytea[]) AS k(kind, key)"
            " ON CONFLICT DO NOTHING"
        )

    async def _store(
        self, conn: asyncpg.Connection | asyncpg.Pool, case_id: str, keys: BlindKeys
    ) -> None:
        if keys.stored:
            await conn.execute(
                self._insert_keys("$1", "$2", "$3"), case_id, keys.stored_kinds, keys.stored
            )

    async def _one_at_a_time(self, conn: asyncpg.Connection, keys: BlindKeys) -> None:
        """Two intakes of one person in flight at once must see each other: each would
        otherwise look up before the other commits its keys. Every key this write stores
        or looks up is locked (a transaction advisory lock on its first 32 bits) until
        the write commits; a write that shares one with it waits, then looks up after
        the commit (READ COMMITTED: a new snapshot per statement) and finds its keys.
        Always in ascending order, so two writes never wait on each other. A 32-bit
        collision only makes two unrelated intakes wait in turn."""
        slots = sorted(
            {int.from_bytes(b[:4], "big", signed=True) for b in (*keys.stored, *keys.probe_blinds)}
        )
        if slots:
            await conn.execute(
                # unnest yields the sorted array in order: the locks are taken in order
                "SELECT count(pg_advisory_xact_lock($1, slot)) FROM unnest($2::int4[]) AS slot",
                _LOCK_SPACE,
                slots,
            )

    async def forget(self, conn: asyncpg.Connection, case_id: str) -> None:
        """Erasure: the case's keys and its pending pairs go (decided pairs stay: they are
        the record of the supervisors' decisions and hold no identifying data)."""
        await conn.execute(f"DELETE FROM {self.q}.person_key WHERE case_id = $1", case_id)
        await conn.execute(
            f"DELETE FROM {self.q}.duplicate_pair"
            " WHERE status = 'pending' AND (case_a = $1 OR case_b = $1)",
            case_id,
        )

    async def decide_pair(
        self, conn: asyncpg.Connection, a: str, b: str, status: str, by: str, at: datetime
    ) -> None:
        """Record a supervisor's decision (or its reversal: ``pending``) on a pair."""
        await conn.execute(
            f"INSERT INTO {self.q}.duplicate_pair"
            " (case_a, case_b, score, status, found_at, decided_at, decided_by)"
            " VALUES (least($1, $2), greatest($1, $2), 0, $3, $4, $4, $5)"
            " ON CONFLICT (case_a, case_b) DO UPDATE"
            " SET status = $3, decided_at = $4, decided_by = $5",
            a,
            b,
            status,
            at,
            by,
        )

    async def pairs(
        self,
        pool: asyncpg.Pool,
        principal: Principal,
        status: str,
        limit: int,
        after: PairPosition | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Pairs with at least one case in the caller's scope, newest first, with the clear
        facts of both cases (region, office, status) and nothing identifying; and the
        cursor of the next page (None on the last)."""
        # scope_filter speaks of case_summary's own columns: name them for either side.
        cond_a, args = scope_filter(principal, 3)
        cond_b = cond_a
        for col in ("region", "office", "caseworker"):
            cond_a = cond_a.replace(f"{col} =", f"a.{col} =")
            cond_b = cond_b.replace(f"{col} =", f"b.{col} =")
        # Keyset paging: the position after the last pair of the page (never an offset,
        # which would skip or repeat pairs found or decided meanwhile).
        page_after = ""
        if after is not None:
            n = len(args) + 3
            page_after = f" AND (p.found_at, p.case_a, p.case_b) < (${n}, ${n + 1}, ${n + 2})"
            args = [*args, after.found_at, after.case_a, after.case_b]
        rows = await pool.fetch(
            "SELECT p.case_a, p.case_b, p.score, p.status, p.found_at, p.decided_at,"
            " p.decided_by, a.region AS region_a, a.office AS office_a, a.status AS status_a,"
            " b.region AS region_b, b.office AS office_b, b.status AS status_b"
            f" FROM {self.q}.duplicate_pair p"
            f" JOIN {self.q}.case_summary a ON a.case_id = p.case_a"
            f" JOIN {self.q}.case_summary b ON b.case_id = p.case_b"
            f" WHERE p.status = $1 AND (({cond_a}) OR ({cond_b})){page_after}"
            " ORDER BY p.found_at DESC, p.case_a DESC, p.case_b DESC LIMIT $2",
            status,
            limit + 1,
            *args,
        )
        page = [dict(r) for r in rows[:limit]]
        more = len(rows) > limit
        last = page[-1] if page else None
        if not more or last is None:
            return page, None
        return page, PairPosition(last["found_at"], last["case_a"], last["case_b"]).cursor()
