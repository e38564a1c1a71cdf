"""Rows for ``COPY ... FROM STDIN (FORMAT binary)``, encoded with a cache per kind of value.

``asyncpg``'s ``copy_records_to_table`` encodes every value of every row anew, and its
array encoder checks each array and each element against the ``collections.abc`` types
(a Python call each): for ``stat_case``'s 27 columns, two of them ``text[]``, that was
10 µs of the client's CPU per row, the largest part of a statistics rebuild's client time
(docs/statistics.md, "Speed"). A read model's rows repeat their values (a dimension's
vocabulary, a case's id and opening time on each of its rows, one row's ``valid_to`` as
the next one's ``valid_from``), so each kind of value (``text``, ``timestamptz``, ...)
keeps the bytes of the values it has encoded in one stream, and a row is mostly
dictionary lookups and one ``join``.

The format is PostgreSQL's (``COPY``, "Binary Format"): a header, then per row the
number of fields and each field as its length (-1 for NULL) and its bytes in the type's
binary send format; a trailer. Only the types a read model here uses are known: ``text``,
``int4``, ``timestamptz`` (aware datetimes) and ``text[]`` (one dimension, NULL
elements allowed). The tests compare what the database stores against the same rows
inserted through parameters (``tests/integration/core/test_pgcopy.py``).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
_TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)  # PostgreSQL's, in microseconds
_MICROSECOND = timedelta(microseconds=1)
_TEXT_OID = 25


def _text(value: str) -> bytes:
    data = value.encode()
    return len(data).to_bytes(4, "big") + data


def _int4(value: int) -> bytes:
    return b"\x00\x00\x00\x04" + value.to_bytes(4, "big", signed=True)


def _timestamptz(value: datetime) -> bytes:
    if value.tzinfo is None:  # the instant would depend on the machine's zone
        raise ValueError("a timestamptz needs an aware datetime")
    return _LENGTH_8_INT8((value - _EPOCH) // _MICROSECOND)


# The field's length (8), then the microseconds since _EPOCH.
_LENGTH_8_INT8 = functools.partial(struct.Struct(">iq").pack, 8)


def _text_array(value: Sequence[str | None]) -> bytes:
    # ndim, has-null flag, element type; then (one dimension) its length and lower bound.
    head = [(1 if value else 0).to_bytes(4, "big"),
            (1 if any(e is None for e in value) else 0).to_bytes(4, "big"),
            _TEXT_OID.to_bytes(4, "big")]  # fmt: skip
    if value:
        head += [len(value).to_bytes(4, "big"), b"\x00\x00\x00\x01"]
    body = b"".join([*head, *(_NULL if e is None else _text(e) for e in value)])
    return len(body).to_bytes(4, "big") + body


KINDS: dict[str, Callable[[Any], bytes]] = {
    "text": _text, "int4": _int4, "timestamptz": _timestamptz, "text[]": _text_array,
}  # fmt: skip


class _Column(dict[Any, bytes]):
    """One kind's encoded values; a value met for the first time is encoded here (the
    bytes depend on the value alone, so an entry is never wrong, only kept or not)."""

    def __init__(self, encode: Callable[[Any], bytes]) -> None:
        super().__init__()
        self.encode = encode

    def __missing__(self, value: Any) -> bytes:
        data = self[value] = _NULL if value is None else self.encode(value)
        return data


class Encoder:
    """Rows whose columns have these kinds (``KINDS``), in this order, as a ``COPY``
    stream."""

    def __init__(self, kinds: Sequence[str], keys: Sequence[str] | None = None) -> None:
        """``keys``: the records are mappings, each column's value under its key (no tuple
        made of each row first); else sequences, in the columns' order."""
        # One cache per kind, not per column: a row's ``valid_to`` is the next row's
        # ``valid_from``, and a vocabulary's words recur across its columns.
        self._caches = {kind: _Column(KINDS[kind]) for kind in kinds}
        self._row = _row_function(kinds, keys or range(len(kinds)), self._caches)

    def chunks(self, records: Sequence[Any], rows: int = 2_000) -> Iterator[bytes]:
        """The stream, header to trailer, ``rows`` rows a piece: the database takes one
        piece while the next is encoded. The caches hold one stream's values (a batch's
        case ids), not kept after it."""
        try:
            yield _HEADER
            for start in range(0, len(records), rows):
                yield b"".join(map(self._row, records[start : start + rows]))
            yield _TRAILER
        finally:
            for cache in self._caches.values():
                cache.clear()


def _row_function(
    kinds: Sequence[str], keys: Sequence[str | int], caches: dict[str, _Column]
) -> Callable[[Any], bytes]:
    """One row's fields written out as one expression (as ``namedtuple`` writes its
    methods): a loop over the columns cost as much as the caches save. The caches are
    default arguments (local names, faster than globals). A list is not hashable: an
    array's cache is keyed by its tuple. The source is made of the caller's column kinds
    and keys (the code's own names, written with ``repr``), never of a row's values."""
    fields = ", ".join(
        f"c{n}[None if r[{key!r}] is None else tuple(r[{key!r}])]" if kind == "text[]"
        else f"c{n}[r[{key!r}]]"
        for n, (kind, key) in enumerate(zip(kinds, keys, strict=True))
    )  # fmt: skip
    scope: dict[str, Any] = {f"c{n}": caches[kind] for n, kind in enumerate(kinds)}
    scope["count"] = len(kinds).to_bytes(2, "big")
    params = ", ".join(f"{name}={name}" for name in scope)
    source = f"def make():\n    def row(r, {params}):\n        return b''.join((count, {fields}))\n"
    exec(source + "    return row\n", scope)
    row: Callable[[Any], bytes] = scope["make"]()
    return row


async def copy(
    conn: asyncpg.Connection,
    table: str,
    columns: Sequence[str],
    records: Sequence[Any],
    encoder: Encoder,
    schema: str | None = None,
) -> None:
    """``COPY`` ``records`` into ``table``'s ``columns``, encoded by ``encoder``."""

    async def pieces() -> AsyncIterator[bytes]:
        for piece in encoder.chunks(records):
            yield piece

    await conn.copy_to_table(
        table, schema_name=schema, columns=list(columns), source=pieces(), format="binary"
    )
