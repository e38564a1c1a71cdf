"""Real Postgres and NATS JetStream servers for the test suite.

Chosen in this order: servers named by ``SAFEPATH_TEST_DATABASE_URL`` /
``SAFEPATH_TEST_NATS_URL``; else testcontainers when a Docker engine answers; else the
embedded wheels on free ports. Never the standard ports of servers a machine may
already run.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from shared.devservers import EmbeddedNats, EmbeddedPostgres

POSTGRES_IMAGE = "postgres:17.6-alpine"
NATS_IMAGE = "nats:2.11.9-alpine"


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

    def start(self) -> None:
        pg = os.environ.get("SAFEPATH_TEST_DATABASE_URL")
        nats_url = os.environ.get("SAFEPATH_TEST_NATS_URL")
        use_docker = (not pg or not nats_url) and docker_available()
        if pg:
            self.pg_url = pg
        elif use_docker:
            self.pg_url = self._docker_postgres()
        else:
            server = EmbeddedPostgres(self.tmp / "pg", fast=True)
            self.pg_url = server.start()
            self._stops.append(server.stop)
        if nats_url:
            self.nats_url = nats_url
        elif use_docker:
            self.nats_url = self._docker_nats()
        else:
            ns = EmbeddedNats(self.tmp / "nats")
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

    def _docker_nats(self) -> str:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        c = DockerContainer(NATS_IMAGE).with_command("-js").with_exposed_ports(4222)
        c.start()
        wait_for_logs(c, "Server is ready", timeout=30)
        self._stops.append(c.stop)
        return f"nats://{c.get_container_host_ip()}:{c.get_exposed_port(4222)}"

    def stop(self) -> None:
        for stop in reversed(self._stops):
            try:
                stop()
            except Exception:
                pass
