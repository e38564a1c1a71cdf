"""Versioned SQL migrations, applied at start-up, per service schema.

Each service has an ordered list of migration directories (the shared event store first,
then its own). A file is applied once, in a transaction, under an advisory lock so two
processes starting together do not race. ``{schema}`` in a file is the quoted schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import asyncpg

SHARED_MIGRATIONS = Path(__file__).resolve().parent


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def migration_files(dirs: Sequence[Path]) -> list[tuple[str, Path]]:
    files: list[tuple[str, Path]] = []
    for d in dirs:
        prefix = "shared" if d == SHARED_MIGRATIONS else d.parent.name
        files.extend((f"{prefix}/{p.name}", p) for p in sorted(d.glob("*.sql")))
    return files


async def apply_migrations(
    conn: asyncpg.Connection, schema: str, dirs: Sequence[Path] = ()
) -> list[str]:
    """Apply every not-yet-applied file of ``SHARED_MIGRATIONS`` then ``dirs``; return names."""
    q = quote_ident(schema)
    applied: list[str] = []
    # One lock for all schemas: CREATE SCHEMA races between services otherwise.
    await conn.execute("SELECT pg_advisory_lock(7427001)")
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {q}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {q}.schema_migration ("
            "name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {q}.schema_migration")}
        for name, path in migration_files([SHARED_MIGRATIONS, *dirs]):
            if name in done:
                continue
            sql = path.read_text().replace("{schema}", q)
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(f"INSERT INTO {q}.schema_migration(name) VALUES ($1)", name)
            applied.append(name)
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock(7427001)")
        except BaseException:
            # Pools do not reset a released connection: never hand one back still
            # holding the lock every service's start-up waits for.
            conn.terminate()
            raise
    return applied
