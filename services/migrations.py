"""Which migration directories make up each service's schema."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from shared.migrations import apply_migrations

SERVICES_DIR = Path(__file__).resolve().parent
SERVICES = ("case", "referral", "notify")


def migration_dirs(service: str) -> list[Path]:
    d = SERVICES_DIR / service / "migrations"
    return [d] if d.is_dir() else []


async def migrate(conn: asyncpg.Connection, service: str) -> list[str]:
    return await apply_migrations(conn, service, migration_dirs(service))


async def migrate_all(dsn: str) -> dict[str, list[str]]:
    conn = await asyncpg.connect(dsn)
    try:
        return {s: await migrate(conn, s) for s in SERVICES}
    finally:
        await conn.close()
