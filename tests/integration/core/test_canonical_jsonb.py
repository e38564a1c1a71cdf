"""Stored JSON as Postgres gives it back (``jsonb::text``): the fast canonical encoding
equals the reference on thousands of generated documents (issue 12)."""

from __future__ import annotations

import json
import random
from typing import Any

import asyncpg
import pytest

from shared.digest import canonical_json, canonical_json_of_text, canonical_text

ALPHABET = (
    "abcxyzABC019 _-./:+eE"
    "ДушанбеКлючёЁўқҳ"
    "é\u0301ß中文😀\u2028\u2029\ufeff\uffff\x7f\x80"
    '"\\\b\f\n\r\t\x01\x1f'
)


def _text(rnd: random.Random) -> str:
    return "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(0, 12)))


def _number(rnd: random.Random) -> int | float:
    return rnd.choice([
        rnd.randint(-1000, 1000),
        rnd.randint(-(2**63), 2**64 - 1),
        rnd.randint(-(10**30), 10**30),
        round(rnd.uniform(-1e6, 1e6), rnd.randint(0, 9)),
        rnd.choice([1e-05, 1e-7, 5e-324, 0.0001, 0.1 + 0.2, 1.5, 100.0, 123.456e-9]),
        rnd.uniform(-1, 1) * 10.0 ** rnd.randint(-12, 15),
    ])  # fmt: skip


def _value(rnd: random.Random, depth: int) -> Any:
    kind = rnd.randint(0, 7 if depth < 6 else 4)
    if kind == 0:
        return rnd.choice([None, True, False])
    if kind in (1, 2):
        return _number(rnd)
    if kind in (3, 4):
        return _text(rnd)
    if kind == 5:
        return [_value(rnd, depth + 1) for _ in range(rnd.randint(0, 4))]
    return {_text(rnd): _value(rnd, depth + 1) for _ in range(rnd.randint(0, 5))}


def corpus(n: int) -> list[Any]:
    rnd = random.Random(12)
    docs: list[Any] = [{}, [], {"a": {"b": {"c": [[], {}]}}}, {"": ""}, [[[[[[[[1]]]]]]]]]
    docs += [{_text(rnd): _value(rnd, 0) for _ in range(rnd.randint(0, 8))} for _ in range(n)]
    return docs


async def test_jsonb_text_of_thousands_of_documents_encodes_as_the_reference(
    pool: asyncpg.Pool,
) -> None:
    docs = corpus(4000)
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE doc (i int PRIMARY KEY, body jsonb NOT NULL)")
        # Sent as the append path sends data: the canonical text of the Python value.
        await conn.executemany(
            "INSERT INTO doc VALUES ($1, $2::jsonb)",
            [(i, canonical_text(d)) for i, d in enumerate(docs)],
        )
        rows = await conn.fetch("SELECT i, body::text AS t FROM doc ORDER BY i")
    assert len(rows) == len(docs)
    differ = [
        r["t"] for r in rows if canonical_json_of_text(r["t"]) != canonical_json(json.loads(r["t"]))
    ]
    assert differ == []


@pytest.mark.xfail(
    strict=True,
    reason="known, not fixed here: append hashes the float as Python spells it (1e+16, -0.0),"
    " jsonb gives back 10000000000000000 and 0.0, so verification sees a changed event",
)
@pytest.mark.parametrize("value", [1e16, -0.0, 1.5e300])
async def test_a_float_jsonb_respells_still_verifies(pool: asyncpg.Pool, value: float) -> None:
    sent = canonical_text({"x": value})
    back = await pool.fetchval("SELECT $1::jsonb::text", sent)
    assert canonical_json_of_text(back) == sent.encode()
