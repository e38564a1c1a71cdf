"""The fast canonical encoding of stored JSON is the reference's, byte for byte (issue 12).

``canonical_json_of_text`` (orjson, with a fall-back to the reference) must give exactly
``canonical_json(json.loads(text))`` for any JSON text, and ``stored_content_digest``
exactly ``content_digest``: a digest that moved would make every stored event look changed.
"""

from __future__ import annotations

import json
import math
import random
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.digest import (
    _json_content_digest,
    _risky,
    _time_json,
    canonical_bytes,
    canonical_json,
    canonical_json_of_text,
    canonical_pair_of_text,
    content_digest,
    stored_content_digest,
)
from shared.envelope import format_time

# Any JSON value: unbounded integers, every finite float, any text (non-ASCII, controls,
# U+2028/9, escapes), empty and nested containers, keys of any text.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)
documents = st.dictionaries(st.text(max_size=8), json_values, max_size=8) | st.lists(json_values)


def _spellings(value: Any) -> list[str]:
    """The same value as text, spelled as Postgres (``jsonb::text``) and others would."""
    return [
        json.dumps(value, ensure_ascii=False, separators=(", ", ": ")),  # jsonb's layout
        json.dumps(value, ensure_ascii=True),
        json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True),
        orjson.dumps(value).decode() if _orjson_can(value) else json.dumps(value),
    ]


def _orjson_can(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except TypeError:
        return False
    return True


def _same(text: str | bytes) -> None:
    assert canonical_json_of_text(text) == canonical_json(json.loads(text)), text


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_any_document_encodes_as_the_reference_does(value: Any) -> None:
    for text in _spellings(value):
        _same(text)
        _same(text.encode())


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(), st.integers(1, 2**31), documents, documents)
def test_the_stored_digest_is_the_content_digest(
    stream_id: str, event_type: str, version: int, data: Any, metadata: Any
) -> None:
    eid, at = uuid.uuid4(), datetime(2026, 1, 1, tzinfo=UTC) + timedelta(microseconds=version)
    for d, m in zip(_spellings(data), _spellings(metadata), strict=True):
        assert stored_content_digest(eid, stream_id, version, event_type, at, d, m) == (
            content_digest(eid, stream_id, version, event_type, at, json.loads(d), json.loads(m))
        )


@settings(max_examples=200, deadline=None)
@given(st.text() | st.uuids().map(str))
def test_an_event_id_given_as_text_is_hashed_as_the_reference_hashes_it(eid: str) -> None:
    """The stored digest writes a UUID's text as it is; any other id is escaped as JSON."""
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert stored_content_digest(eid, "s", 1, "t", at, '{"a":1}', "{}") == (
        content_digest(eid, "s", 1, "t", at, {"a": 1}, {})
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, documents)
def test_a_pair_encodes_as_each_alone(data: Any, metadata: Any) -> None:
    """One number check over data and metadata together decides as two checks would."""
    for d, m in zip(_spellings(data), _spellings(metadata), strict=True):
        assert canonical_pair_of_text(d, m) == (
            canonical_json_of_text(d),
            canonical_json_of_text(m),
        )


def test_a_risky_number_on_either_side_of_the_pair_goes_to_the_reference() -> None:
    plain = '{"a": "x"}'
    for risky in EDGE_CASES:
        expected = canonical_json(json.loads(risky))
        assert canonical_pair_of_text(risky, plain)[0] == expected, risky
        assert canonical_pair_of_text(plain, risky)[1] == expected, risky


EDGE_CASES = [
    # numbers: orjson spells these unlike Python, or reads them as floats
    '{"a": 1e-05}', '{"a": 0.00001}', '{"a": 1e-7}', '{"a": 5e-324}', '{"a": 0.0001}',
    '{"a": 1e16}', '{"a": 10000000000000000}', '{"a": 1.5e300}', '[1e22, -0.0, 0.0, -0]',
    '{"a": 18446744073709551615}', '{"a": 18446744073709551616}', '[-9223372036854775808]',
    '[-9223372036854775809]', '{"a": 100000000000000000000000000}', '[0.30000000000000004]',
    '{"a": 1' + "0" * 400 + "}", '{"a": 1.0}', '{"a": 1.50}', '[123456789012345678.5]',
    # strings: escapes, controls, separators of lines, non-ASCII, surrogate pairs
    '{"a": "\\u2028\\u2029 \u2028"}', '{"a": "\\u0000\\u0001\\u001f\\u007f\\u0080"}',
    '{"a": "\\b\\f\\n\\r\\t\\"\\\\\\/ /"}', '{"Ключ": "значение", "é": 1, "E": 2, "": 3}',
    '{"a": "\\ud83d\\ude00 😀"}', '{"\\ufeff": "\ufffe\uffff"}', '{"a": "e+1 e-1 :1e5, 0.0000"}',
    # containers
    "{}", "[]", '{"a": {}, "b": [], "c": [[]], "d": [{}]}', '{"b": 1, "a": 2, "a": 3}',
    "[" * 300 + "]" * 300, '{"a": ' * 260 + "1" + "}" * 260,
    # not an object or array
    "1.5", "1e-05", '"text"', "null", "true", "12",
]  # fmt: skip


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_encode_as_the_reference_does(text: str) -> None:
    _same(text)


def test_lone_surrogates_fail_as_the_reference_fails() -> None:
    # jsonb refuses them; if one came, both encoders refuse to produce UTF-8.
    with pytest.raises(UnicodeEncodeError):
        canonical_json(json.loads('{"a": "\\ud800"}'))
    with pytest.raises(UnicodeEncodeError):
        canonical_json_of_text('{"a": "\\ud800"}')


def _floats(n: int) -> list[float]:
    rnd = random.Random(20261129)
    out = [struct.unpack("d", rnd.randbytes(8))[0] for _ in range(n)]
    out += [m * 10.0**k for k in range(-320, 308) for m in (1.0, 2.5, 9.999999999999998)]
    out += [float(2**i) for i in range(0, 1024, 3)]
    return [f for f in out if math.isfinite(f)]


def test_orjson_writes_every_float_it_is_trusted_with_as_repr() -> None:
    # The claim _risky rests on: orjson writes a float as repr does unless the output has
    # an exponent or starts 0.0000, and its exponents always carry a sign.
    for f in _floats(40_000):
        for sign in (1.0, -1.0):
            out = orjson.dumps(sign * f)
            if b"e" in out:
                assert b"e+" in out or b"e-" in out, out
            if not _risky(b"[" + out + b"]"):
                assert out == repr(sign * f).encode(), (f, out)


@settings(max_examples=500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_in_documents(f: float) -> None:
    for text in (f'{{"a": {f!r}}}', f"[{f!r}, 1]", f'{{"a": [{json.dumps(f)}]}}'):
        _same(text)


@settings(max_examples=1000, deadline=None)
@given(
    st.datetimes(timezones=st.just(UTC))
    | st.datetimes(timezones=st.sampled_from([timezone(timedelta(hours=5)), None]))
)
def test_times_are_spelled_as_format_time_does(at: datetime) -> None:
    assert _time_json(at) == orjson.dumps(format_time(at))


# -- what append hashes and stores: Python values by orjson (canonical_bytes) ------------

# Values as events and metadata hold them (pydantic's JSON-mode dump), and what could
# still reach the encoder: NaN and infinities, integers past 64 bits, tuples.
python_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=6)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)


def _encodes_alike(value: Any) -> None:
    try:
        expected: bytes | type[Exception] = canonical_json(value)
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        expected = type(e)
    if isinstance(expected, bytes):
        assert canonical_bytes(value) == expected, value
    else:
        with pytest.raises(expected):
            canonical_bytes(value)


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.text(max_size=8), python_values, max_size=8) | python_values)
def test_any_value_append_stores_encodes_as_the_reference_does(value: Any) -> None:
    _encodes_alike(value)


class Code(str):
    """A subclass of str: orjson must not write it its own way."""


PYTHON_EDGE_CASES: list[Any] = [
    {"a": math.nan}, {"a": None, "b": [1.0, math.inf]}, {"a": None, "b": -math.inf},
    {"a": None, "b": 1.5}, [None, math.nan], {"a": 1e-05}, {"a": 1e16}, {"a": 2**64},
    {"a": 2**63 - 1, "b": -(2**63)}, {"a": -(2**63) - 1}, {"a": (1, 2.5, "x")},
    {"é": 1, "E": 2, "": 3, "Ключ": "значение"}, {"a": "\u2028\x00\x1f\x7f\"\\/"},
    {1: "a"}, {"a": {2: "b"}}, {Code("k"): Code("v")}, {"a": True, "b": False},
    {"a": datetime(2026, 1, 1, tzinfo=UTC)}, {"a": "\ud800"}, [[[[]]]] * 3,
    {"a": [{}] * 3, "b": {"c": {"d": {}}}}, "text", 12, 1.5, None,
    # A number alone: no token before its exponent (the property test found the first).
    1.192092896e-07, 1e-05, -2.5e-10, 1e16, 2**70, -(2**70),
]  # fmt: skip


@pytest.mark.parametrize("value", PYTHON_EDGE_CASES, ids=repr)
def test_python_edge_cases_encode_as_the_reference_does(value: Any) -> None:
    _encodes_alike(value)


def test_a_nan_is_refused_by_the_store_as_before() -> None:
    # The reference writes NaN, which jsonb refuses: the append fails, as it did. orjson
    # alone would have written null and stored a changed value.
    assert canonical_bytes({"a": None, "b": math.nan}) == b'{"a":null,"b":NaN}'


@settings(max_examples=500, deadline=None)
@given(
    st.text(),
    st.text(),
    st.integers(1, 2**31),
    st.datetimes(timezones=st.just(UTC)),
    st.dictionaries(st.text(max_size=8), python_values, max_size=6),
    st.dictionaries(st.text(max_size=8), st.text(), max_size=4),
)
def test_the_digest_append_hashes_is_the_content_digest(
    stream_id: str, event_type: str, version: int, at: datetime, data: Any, metadata: Any
) -> None:
    eid = uuid.uuid4()
    try:
        data_json, meta_json = canonical_bytes(data), canonical_bytes(metadata)
    except UnicodeEncodeError:
        return  # a lone surrogate: refused before anything is hashed, as before
    assert _json_content_digest(
        eid, stream_id, version, event_type, at, data_json, meta_json
    ) == content_digest(eid, stream_id, version, event_type, at, data, metadata)
