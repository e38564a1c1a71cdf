"""What the hash chain protects: the canonical JSON of an event and its digests.

Every event store hashes its events with these functions and every verification
(``shared.chain``, ``shared.audit``, ``safepath audit verify``) recomputes them, so they
must give the same bytes for every stored event, forever. This module imports only the
standard library and orjson: a chain verification worker (a new interpreter) starts by
importing it, and the rest of the event store (pydantic models, NATS, tracing) would
cost that start several times over.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from shared.jsontext import finite as _finite
from shared.rfc3339 import format_time

# One encoder, built once: ``json.dumps`` with these options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_text(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 as is: the one JSON spelling that is hashed."""
    return _CANONICAL.encode(value)


def canonical_json(value: Any) -> bytes:
    return canonical_text(value).encode()


def _content_digest(
    event_id: UUID | str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    occurred_at: datetime,
    data_text: str,
    metadata_text: str,
) -> bytes:
    # Spelled out in sorted key order so that data and metadata, already canonical text
    # (what append stores), are not encoded twice. The bytes are exactly
    # canonical_json({"id": ..., "stream_id": ..., "stream_version": ..., "type": ...,
    # "time": ..., "data": ..., "metadata": ...}).
    enc = _CANONICAL.encode
    return hashlib.sha256(
        (
            f'{{"data":{data_text},"id":{enc(str(event_id))},"metadata":{metadata_text},'
            f'"stream_id":{enc(stream_id)},"stream_version":{enc(stream_version)},'
            f'"time":{enc(format_time(occurred_at))},"type":{enc(event_type)}}}'
        ).encode()
    ).digest()


def _json_content_digest(
    event_id: UUID,
    stream_id: str,
    stream_version: int,
    event_type: str,
    occurred_at: datetime,
    data_json: bytes,
    metadata_json: bytes,
) -> bytes:
    """``_content_digest`` with data and metadata already canonical bytes: the same bytes
    hashed (orjson spells a string as the reference does, and ``_time_json`` the time)."""
    parts = (
        b'{"data":', data_json,
        b',"id":"', str(event_id).encode(),
        b'","metadata":', metadata_json,
        b',"stream_id":', orjson.dumps(stream_id),
        b',"stream_version":', str(stream_version).encode(),
        b',"time":', _time_json(occurred_at),
        b',"type":', orjson.dumps(event_type), b"}",
    )  # fmt: skip
    return hashlib.sha256(b"".join(parts)).digest()


def content_digest(
    event_id: UUID | str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    occurred_at: datetime,
    data: Any,
    metadata: Any,
) -> bytes:
    """sha256 of the canonical content of an event: what the hash chain protects."""
    return _content_digest(
        event_id, stream_id, stream_version, event_type, occurred_at,
        canonical_text(data), canonical_text(metadata),
    )  # fmt: skip


# A number orjson may spell unlike the reference: a token (after ``:``, ``,`` or ``[``)
# with an exponent (Python writes 1e+16 alike, but an integer past 64 bits reads as a
# float and would come out as 1e+26) or below 1e-4 (orjson writes 0.00001, Python 1e-05).
# Every other float orjson writes as ``repr`` does, and its exponents always carry a sign,
# so a document without "e+", "e-" or "0.0000" needs no regex (tests/unit/shared/
# test_canonical.py). A match inside a string only costs time.
# A document that is itself a number has no token before it (the property test of
# append's encoder found 1.192092896e-07 alone written as 1.192092896e-7): matched at the
# start on its own. (One pattern with ``(?:^|[:,\[])`` cost three times as much: the
# alternation keeps the regex engine from skipping ahead to the next ``:``, ``,`` or
# ``[``, and a UUID's text holds ``e-`` about one time in four, so most envelopes and
# much event data get this far.)
_RISKY_NUMBER = re.compile(rb"[:,\[]-?(?:[0-9]+(?:\.[0-9]+)?e|0\.0000)")
_RISKY_DOCUMENT = re.compile(rb"-?(?:[0-9]+(?:\.[0-9]+)?e|0\.0000)")


def _risky(out: bytes) -> bool:
    # ``find``, not ``in``: CPython's ``bytes.__contains__`` first tries its argument as an
    # integer and clears the TypeError, which made the three tests cost about 1 µs.
    return (out.find(b"e+") >= 0 or out.find(b"e-") >= 0 or out.find(b"0.0000") >= 0) and (
        _RISKY_NUMBER.search(out) is not None or _RISKY_DOCUMENT.match(out) is not None
    )


def canonical_json_of_text(text: str | bytes) -> bytes:
    """``canonical_json(json.loads(text))``, byte for byte, computed faster (orjson).

    For stored JSON (``jsonb`` as text): verification re-encodes each event's data and
    metadata. orjson parses, sorts keys by code point and escapes strings as the reference
    does (``"``, ``\\``, controls below U+0020 as ``\\n``, ``\\u001f``…; nothing else,
    U+2028/9, U+007F and ``/`` included) and writes floats as ``repr``. Where it could
    differ, the reference encodes: a number with an exponent or below 1e-4 in the output
    (``_risky``), a document that is not an object or array, or anything orjson
    refuses (nesting deeper than 255, a lone surrogate, …).
    """
    out = _orjson_canonical(text)
    if out is None or _risky(out):
        return canonical_json(json.loads(text))
    return out


def _orjson_canonical(text: str | bytes) -> bytes | None:
    """orjson's sorted-key bytes of ``text`` before the number check; None where only the
    reference may encode it (not an object or array, or refused by orjson)."""
    try:
        out = orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS)
    except (ValueError, TypeError):  # orjson.JSONDecodeError, orjson.JSONEncodeError
        return None
    return out if out[:1] in (b"{", b"[") else None


def canonical_pair_of_text(data: str | bytes, metadata: str | bytes) -> tuple[bytes, bytes]:
    """``canonical_json_of_text`` of both, with one number check over the two: each is an
    object or array, ending in ``}`` or ``]`` and beginning with ``{`` or ``[``, which no
    risky spelling contains, so nothing the check looks for spans the seam (and a match
    in either is a match in both together). Verification does this for every event."""
    d, m = _orjson_canonical(data), _orjson_canonical(metadata)
    if d is None or m is None or _risky(d + m):
        return canonical_json_of_text(data), canonical_json_of_text(metadata)
    return d, m


# orjson writes what the reference writes for dicts, lists, str, int, float, bool and
# None; for anything else (a datetime, a dataclass, a subclass of str or dict) it must
# fail as the reference does, not write it its own way.
_ORJSON_VALUES = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def canonical_bytes(value: Any) -> bytes:
    """``canonical_json(value)``, byte for byte, computed faster (orjson): what ``append``
    hashes and stores. Where orjson could write otherwise, the reference encodes: a
    number with an exponent or below 1e-4 (``_risky``), a ``null`` that may stand for a
    NaN or an infinity (the reference writes ``NaN``, which ``jsonb`` then refuses, as
    before), an integer past 64 bits, a lone surrogate, a key that is not a string, or
    a type orjson would write and the reference refuses (those then raise as before)."""
    try:
        out = orjson.dumps(value, option=_ORJSON_VALUES)
    except TypeError:  # orjson.JSONEncodeError
        return canonical_json(value)
    if _risky(out) or (out.find(b"null") >= 0 and not _finite(value)):
        return canonical_json(value)
    return out


def _time_json(at: datetime) -> bytes:
    """``format_time(at)`` as a JSON string, by orjson for a UTC time (as asyncpg reads
    ``timestamptz``): it writes the same text but leaves out a zero microsecond."""
    if at.tzinfo is not UTC:
        return orjson.dumps(format_time(at))
    text = orjson.dumps(at, option=orjson.OPT_UTC_Z)
    return text if at.microsecond else text[:-2] + b'.000000Z"'


def stored_content_digest(
    event_id: UUID | str,
    stream_id: str,
    stream_version: int,
    event_type: str,
    occurred_at: datetime,
    data_text: str | bytes,
    metadata_text: str | bytes,
) -> bytes:
    """``content_digest`` of an event whose data and metadata are stored JSON text (as
    ``jsonb::text`` reads them): the same bytes, without decoding into Python objects and
    encoding again in Python."""
    data, metadata = canonical_pair_of_text(data_text, metadata_text)
    # A UUID's text needs no escaping; the strings go through orjson, which escapes as
    # the reference does. One bytes formatting: less per event than a dict for orjson.
    eid = b'"%b"' % str(event_id).encode() if isinstance(event_id, UUID) else orjson.dumps(event_id)
    return hashlib.sha256(
        _STORED_CONTENT
        % (
            data, eid, metadata, orjson.dumps(stream_id), stream_version,
            _time_json(occurred_at), orjson.dumps(event_type),
        )
    ).digest()  # fmt: skip


# The outer document of ``_content_digest``, keys in sorted order, for stored events.
_STORED_CONTENT = (
    b'{"data":%b,"id":%b,"metadata":%b,"stream_id":%b,"stream_version":%d,"time":%b,"type":%b}'
)


def chain_hash(prev_hash: bytes | None, digest: bytes) -> bytes:
    return hashlib.sha256((prev_hash or b"") + digest).digest()
