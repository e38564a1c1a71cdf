"""Fixtures: real servers once per session, an isolated database and namespace per test.

Each test gets ``CREATE DATABASE ... TEMPLATE`` of a database migrated once (fast and
isolated) and its own subject/stream namespace on JetStream.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import asyncpg
import nats
import pytest
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from services.migrations import migrate_all
from shared.jetstream import declare_streams
from shared.settings import Settings
from tests.keys import bus_values
from tests.servers import Servers


def _with_db(url: str, db: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{db}"


@pytest.fixture(scope="session", autouse=True)
def _private_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The development secrets the tests' Settings generate (shared/secretfiles.py) go to
    one temporary data directory for the session, never the developer's ``data/``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SAFEPATH_DATA_DIR", str(tmp_path_factory.mktemp("data")))
        yield


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    s = Servers()
    s.start()
    yield s
    s.stop()


@pytest.fixture(scope="session")
def template_db(servers: Servers) -> Iterator[str]:
    name = f"safepath_tpl_{uuid.uuid4().hex[:10]}"

    async def setup() -> None:
        conn = await asyncpg.connect(servers.pg_url)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        await migrate_all(_with_db(servers.pg_url, name))

    async def teardown() -> None:
        conn = await asyncpg.connect(servers.pg_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(setup())
    yield name
    asyncio.run(teardown())


@pytest.fixture
async def database_url(servers: Servers, template_db: str) -> AsyncIterator[str]:
    name = f"safepath_t_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(servers.pg_url)
    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    await conn.close()
    yield _with_db(servers.pg_url, name)
    conn = await asyncpg.connect(servers.pg_url)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=10)
    yield p
    await p.close()


@pytest.fixture
def namespace() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def nats_url(servers: Servers) -> str:
    return servers.nats_url


def credentials(servers: Servers, identity: str, namespace: str) -> str:
    """A ``.creds`` file for ``identity`` (setup, a service, ``provider:<id>``) in ``namespace``."""
    path = servers.credentials.path(f"{namespace}-{identity}")
    if not path.exists():
        issued = servers.credentials.issue(identity, namespace)
        issued.rename(path)
    return str(path)


async def connect_as(servers: Servers, identity: str, namespace: str, **options: object) -> NATS:
    from shared.natsauth import inbox_prefix

    return await nats.connect(
        servers.nats_url,
        user_credentials=credentials(servers, identity, namespace),
        inbox_prefix=inbox_prefix(identity),
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture
async def nc(servers: Servers, namespace: str) -> AsyncIterator[NATS]:
    """A connection as the setup identity: may create and delete this test's streams."""
    conn = await connect_as(
        servers, "setup", namespace, max_reconnect_attempts=-1, reconnect_time_wait=0.2
    )
    yield conn
    # Remove this test's streams so the server does not accumulate them.
    try:
        js = conn.jetstream()
        for name in await js.streams_info():
            if name.config.name and name.config.name.lower().startswith(namespace):
                await js.delete_stream(name.config.name)
    except Exception:
        pass
    await conn.close()


@pytest.fixture
def js(nc: NATS) -> JetStreamContext:
    return nc.jetstream()


@pytest.fixture
async def streams(js: JetStreamContext, namespace: str) -> None:
    """Every stream of this test's namespace, declared by the setup identity."""
    await declare_streams(js, Settings(namespace=namespace, environment="test"))


@pytest.fixture
def service_settings(
    servers: Servers, database_url: str, namespace: str, streams: None
) -> Callable[..., Settings]:
    """``service_settings("case")``: a service's settings for this test, with its own bus
    identity (credentials for this namespace) and the session's event keys."""

    def make(service: str, **changes: object) -> Settings:
        values: dict[str, object] = {
            "database_url": database_url,
            "nats_url": servers.nats_url,
            "namespace": namespace,
            "environment": "test",
            "nats_credentials": credentials(servers, service, namespace),
            **bus_values(service),
            **changes,
        }
        return Settings(**values)  # type: ignore[arg-type]

    return make
