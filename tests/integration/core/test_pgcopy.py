"""``shared/pgcopy.py``: what its binary ``COPY`` stores is what the same rows store when
inserted through parameters, for the values that could go wrong (text a text format would
have to escape, NULLs, arrays empty or with NULL elements, instants before 2000, other
zones, microseconds), across pieces and with the caches carried from one row to the next."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from shared import pgcopy

KINDS = ("text", "int4", "timestamptz", "text[]")
COLUMNS = ("t", "i", "at", "a")
DUSHANBE = timezone(timedelta(hours=5))
AWKWARD_TEXT = [
    "", "NULL", "\\N", "tab\there", "new\nline", "cr\rhere", 'quote"s', "back\\slash",
    "{braces}", "a,b", "  spaced  ", "Душанбе", "Хатлон", "emoji \U0001f6e1", "x" * 5_000,
]  # fmt: skip
AWKWARD_ARRAYS = [[], [""], ["NULL"], [None], ["a", None, "b"], ["a,b", "{c}", '"d"'],
                  ["back\\slash", "tab\t"], ["Согд"] * 40]  # fmt: skip
INSTANTS = [
    datetime(2000, 1, 1, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
    datetime(1970, 1, 1, tzinfo=UTC),
    datetime(2026, 11, 30, 16, 45, 1, 123_456, tzinfo=DUSHANBE),
    datetime(2100, 2, 28, 12, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
]


def rows() -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    n = 0
    for text in [*AWKWARD_TEXT, None]:
        for array in [*AWKWARD_ARRAYS, None]:
            for at in [*INSTANTS, None]:
                n += 1
                number = [0, -1, 2**31 - 1, -(2**31), None][n % 5]
                out.append((text, number, at, array))
                out.append((text, number, at, array))  # the same values again: the caches
    return out * 3  # more rows than one piece holds


@pytest.fixture
async def tables(pool: asyncpg.Pool) -> asyncpg.Pool:
    for name in ("copied", "inserted"):
        await pool.execute(
            f'CREATE TABLE "case".{name} (n serial, t text, i int4, at timestamptz, a text[])'
        )
    return pool


async def test_binary_copy_stores_what_a_parameterised_insert_stores(
    tables: asyncpg.Pool,
) -> None:
    records = rows()
    async with tables.acquire() as conn:
        await pgcopy.copy(conn, "copied", COLUMNS, records, pgcopy.Encoder(KINDS), "case")
        await conn.executemany(
            'INSERT INTO "case".inserted (t, i, at, a) VALUES ($1, $2, $3, $4)', records
        )
        copied = await conn.fetch('SELECT t, i, at, a FROM "case".copied ORDER BY n')
        inserted = await conn.fetch('SELECT t, i, at, a FROM "case".inserted ORDER BY n')
        # And as the database itself prints them (its own text, not the driver's decoding).
        printed = await conn.fetchval(
            """SELECT count(*) FROM "case".copied c JOIN "case".inserted i USING (n)
               WHERE (c.t, c.i, c.at, c.a)::text IS DISTINCT FROM (i.t, i.i, i.at, i.a)::text"""
        )
    assert len(copied) == len(records) > 2 * 2_000  # more than one piece
    assert [tuple(r) for r in copied] == [tuple(r) for r in inserted]
    assert printed == 0


async def test_an_encoder_used_again_gives_the_same_rows(tables: asyncpg.Pool) -> None:
    encoder = pgcopy.Encoder(KINDS)
    records = rows()
    async with tables.acquire() as conn:
        for half in (records[: len(records) // 2], records[len(records) // 2 :]):
            await pgcopy.copy(conn, "copied", COLUMNS, half, encoder, "case")
        copied = await conn.fetch('SELECT t, i, at, a FROM "case".copied ORDER BY n')
    assert [tuple(r) for r in copied] == [
        (t, i, None if at is None else at.astimezone(UTC), a) for t, i, at, a in records
    ]


async def test_a_naive_datetime_is_refused_and_nothing_is_stored(tables: asyncpg.Pool) -> None:
    records = [("a", 1, datetime(2026, 1, 1, tzinfo=UTC), ["x"]), ("b", 2, datetime(2026, 1, 1),
               ["y"])]  # fmt: skip
    async with tables.acquire() as conn:
        with pytest.raises(ValueError, match="aware"):
            await pgcopy.copy(conn, "copied", COLUMNS, records, pgcopy.Encoder(KINDS), "case")
        assert await conn.fetchval('SELECT count(*) FROM "case".copied') == 0


async def test_records_as_mappings_store_what_the_same_records_as_tuples_store(
    tables: asyncpg.Pool,
) -> None:
    records = rows()
    mappings = [dict(zip(COLUMNS, r, strict=True)) | {"unused": object()} for r in records]
    async with tables.acquire() as conn:
        await pgcopy.copy(conn, "copied", COLUMNS, records, pgcopy.Encoder(KINDS), "case")
        await pgcopy.copy(
            conn, "inserted", COLUMNS, mappings, pgcopy.Encoder(KINDS, keys=COLUMNS), "case"
        )
        copied = await conn.fetch('SELECT t, i, at, a FROM "case".copied ORDER BY n')
        inserted = await conn.fetch('SELECT t, i, at, a FROM "case".inserted ORDER BY n')
    assert len(copied) == len(records)
    assert [tuple(r) for r in copied] == [tuple(r) for r in inserted]


async def test_one_encoder_serves_two_copies_at_once(tables: asyncpg.Pool) -> None:
    """The statistics rebuild keeps one encoder for the module: two streams interleaved
    (one's end empties the caches the other is using) still store the same rows."""
    encoder = pgcopy.Encoder(KINDS)
    records = rows()
    async with tables.acquire() as one, tables.acquire() as two:
        await asyncio.gather(
            pgcopy.copy(one, "copied", COLUMNS, records, encoder, "case"),
            pgcopy.copy(two, "inserted", COLUMNS, records[: len(records) // 3], encoder, "case"),
        )
        copied = await one.fetch('SELECT t, i, at, a FROM "case".copied ORDER BY n')
        inserted = await one.fetch('SELECT t, i, at, a FROM "case".inserted ORDER BY n')
    expected = [(t, i, None if at is None else at.astimezone(UTC), a) for t, i, at, a in records]
    assert [tuple(r) for r in copied] == expected
    assert [tuple(r) for r in inserted] == expected[: len(records) // 3]
