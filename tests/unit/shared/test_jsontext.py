"""JSON read by orjson on the hot paths gives the standard library's values (issue 12): a
value that changed on the way would fail a signature, or worse, be used as something
other than what was verified."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared import jsontext
from tests.unit.shared.test_canonical import python_values

# Any JSON value as the services hold them: unbounded integers (past 64 bits too), every
# float (NaN and infinities included: ``json`` writes and reads them), any text, nested
# containers (the canonical encoding's property tests use the same).
values = python_values


def same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down (1 is not 1.0; NaN is NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def outcome(read: Any, text: str | bytes) -> tuple[str, Any]:
    try:
        return "value", read(text)
    except ValueError as e:  # json.JSONDecodeError, UnicodeDecodeError
        return "error", type(e).__name__


@settings(max_examples=1500, deadline=None)
@given(values)
def test_read_gives_the_standard_librarys_values(value: Any) -> None:
    for text in (
        json.dumps(value, ensure_ascii=False, separators=(",", ":")),
        json.dumps(value, ensure_ascii=True, indent=1),
    ):
        for given_text in (text, text.encode("utf-8", "surrogatepass")):
            ours, theirs = jsontext.loads(given_text), json.loads(given_text)
            assert same(ours, theirs), (given_text, ours, theirs)


@settings(max_examples=1500, deadline=None)
@given(st.text(max_size=40) | st.binary(max_size=40))
def test_any_text_reads_as_the_standard_library_reads_it_or_fails_alike(text: Any) -> None:
    mine, reference = outcome(jsontext.loads, text), outcome(json.loads, text)
    assert mine[0] == reference[0], (text, mine, reference)
    if mine[0] == "value":
        assert same(mine[1], reference[1])


@pytest.mark.parametrize(
    "text",
    [
        "123456789012345678901234567890",  # orjson alone reads it as a float
        "-9223372036854775809",
        '{"n":18446744073709551616}',
        "[1E400, -1e400, NaN, Infinity, -Infinity]",
        '"\\ud800"',
        '{"a":1,"a":2}',
        "-0",
        "[-0.0, 1e-7, 0.1, 5e-324]",
        ' {"é" : [ ] } ',
    ],
)
def test_edges_read_as_the_standard_library_reads_them(text: str) -> None:
    assert same(jsontext.loads(text), json.loads(text))
    assert same(jsontext.loads(text.encode()), json.loads(text))
