"""A 3-node JetStream cluster loses its stream leader mid-flow: nothing is lost or doubled.

Given a 3-node cluster on loopback and the service stream declared with 3 replicas,
when events flow from the event store through the relay to an idempotent consumer and
the node leading the stream is killed (SIGKILL) and later started again on the same
store, then every appended event is on the stream exactly once and in per-stream order,
every event is applied exactly once, and the restarted node catches up by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import pytest
from faststream.nats import NatsBroker
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext

from shared.consumer import DeadLetters, IdempotentConsumer, subscribe
from shared.devservers import nats_server_binary
from shared.envelope import Envelope
from shared.events import Event
from shared.eventstore import EventStore
from shared.jetstream import dead_letter_stream, dead_letter_subject, ensure_stream, stream_config
from shared.relay import Relay
from shared.runtime import cancel_until_done
from shared.signatures import EventSigner, EventVerifier
from tests.faults.cluster import NatsCluster, connect, wait_for_meta_leader
from tests.integration.core.events import Noted, noted, test_registry
from tests.keys import SIGNING_KEYS, VERIFY_KEYS

CASE_STREAMS = 8  # event-store streams (cases) written round-robin
APPEND_EVERY = 0.005  # seconds between appends: a steady flow of a few hundred a second
FLOW_AFTER_RESTART = 2.0  # seconds of appends after the node is back
SETTLE_WITHIN = 75.0
EXAMPLE = Path(__file__).parents[2] / "deploy" / "nats" / "cluster"


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], within: float) -> float:
    """Poll ``check`` until true; return the seconds it took. Errors count as not yet."""
    start = time.monotonic()
    last: Exception | None = None
    while time.monotonic() - start < within:
        try:
            if await check():
                return time.monotonic() - start
        except Exception as e:  # a node is down or electing: ask again
            last = e
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not reached within {within}s (last error: {last!r})")


class Writer:
    """Appends events to several streams, one at a time, and remembers what it appended."""

    def __init__(self, store: EventStore) -> None:
        self.store = store
        self.appended: dict[str, list[str]] = defaultdict(list)  # stream id -> event ids
        self.stopping = asyncio.Event()

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.appended.values())

    async def run(self) -> None:
        i = 0
        while not self.stopping.is_set():
            sid = f"case-{i % CASE_STREAMS}"
            ids = self.appended[sid]
            [stored] = await self.store.append(sid, len(ids), [noted(i)])
            ids.append(str(stored.event_id))
            i += 1
            await asyncio.sleep(APPEND_EVERY)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    c = NatsCluster(tmp_path / "nats")
    try:
        c.start()
        yield c
    finally:
        c.stop()  # also when the test failed


async def stream_contents(js: JetStreamContext, stream: str) -> list[tuple[str, dict[str, object]]]:
    """Every message on the stream, in stream order: (Nats-Msg-Id, CloudEvent)."""
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        out.append(((msg.headers or {}).get("Nats-Msg-Id", ""), json.loads(msg.data or b"{}")))
    return out


async def test_killing_the_stream_leader_loses_and_doubles_nothing(
    cluster: NatsCluster, pool: asyncpg.Pool, namespace: str
) -> None:
    setup = str(cluster.credentials.issue("setup", namespace))
    nc: NATS = await connect(cluster.urls, setup)
    broker = NatsBroker(
        servers=cluster.urls,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        user_credentials=setup,
    )
    tasks: list[asyncio.Task[None]] = []
    try:
        await wait_for_meta_leader(nc)
        js = nc.jetstream(timeout=2.0)
        stream = f"{namespace}_CASE".upper()

        async def declared() -> bool:
            await ensure_stream(js, stream_config(stream, [f"{namespace}.case.>"], replicas=3))
            await ensure_stream(js, dead_letter_stream(namespace, replicas=3))
            return True

        await wait_for("streams declared", declared, 30)
        info = await js.stream_info(stream)
        assert info.config.num_replicas == 3 and info.cluster is not None

        await pool.execute(
            'CREATE TABLE "referral".applied (seq bigserial, event_id uuid, stream text, n int)'
        )

        async def apply(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
            assert isinstance(event, Noted)
            await conn.execute(
                'INSERT INTO "referral".applied (event_id, stream, n) VALUES ($1::uuid, $2, $3)',
                env.id,
                env.subject,
                event.n,
            )

        consumer = IdempotentConsumer(
            pool, "referral", "case-events", apply, registry=test_registry
        )
        subscribe(
            broker,
            consumer,
            DeadLetters(js, dead_letter_subject(namespace, "referral-case-events")),
            stream=stream,
            subject=f"{namespace}.case.>",
            durable="referral-case-events",
            redeliver_after=0.1,
            verifier=EventVerifier.from_text(VERIFY_KEYS, namespace),
        )
        await broker.start()

        store = EventStore(pool, "case", registry=test_registry)
        relay = Relay(
            store,
            js,
            subject_root=f"{namespace}.case",
            stream=stream,
            batch=100,
            signer=EventSigner(SIGNING_KEYS["case"]),
        )
        writer = Writer(store)
        tasks += [asyncio.create_task(relay.run()), asyncio.create_task(writer.run())]

        async def applied_count() -> int:
            return int(
                await pool.fetchval('SELECT count(DISTINCT event_id) FROM "referral".applied')
            )

        async def flowing() -> bool:
            return await applied_count() >= 100

        await wait_for("events flowing end to end", flowing, 30)

        # When: the node leading the stream dies and later comes back on the same store.
        leader = (await js.stream_info(stream)).cluster.leader  # type: ignore[union-attr]
        assert leader in cluster.names, leader
        cluster.kill(leader)
        killed = time.monotonic()

        probe = nc.jetstream(timeout=0.5)  # short, to time the failover finely

        async def new_leader() -> bool:
            cl = (await probe.stream_info(stream)).cluster
            return cl is not None and cl.leader not in (None, leader)

        # Raft elects a new leader after its election timeout (4-9 s in nats-server).
        failover = await wait_for("a new stream leader", new_leader, 30)
        during = relay.published

        async def published_while_down() -> bool:
            return relay.published >= during + 200

        await wait_for("the relay publishing to the new leader", published_while_down, 30)
        down_for = time.monotonic() - killed
        cluster.restart(leader)
        await asyncio.sleep(FLOW_AFTER_RESTART)
        writer.stopping.set()
        await tasks.pop()  # the writer
        appended = writer.count
        ids = {e for stream_ids in writer.appended.values() for e in stream_ids}
        assert len(ids) == appended

        stopped = time.monotonic()

        async def all_on_stream() -> bool:
            return (await js.stream_info(stream)).state.messages >= appended

        async def all_applied() -> bool:
            return await applied_count() >= appended

        async def replicas_caught_up() -> bool:
            cl = (await js.stream_info(stream)).cluster
            peers = (cl.replicas or []) if cl else []
            return len(peers) == 2 and all(p.current and not p.lag for p in peers)

        await wait_for("every event on the stream", all_on_stream, SETTLE_WITHIN)
        on_stream_after = time.monotonic() - stopped
        await wait_for("every event applied", all_applied, SETTLE_WITHIN)
        applied_after = time.monotonic() - stopped
        await wait_for("restarted node caught up", replicas_caught_up, SETTLE_WITHIN)
        settle = time.monotonic() - stopped

        # Then: each event is on the stream once, in the order of its own stream.
        contents = await stream_contents(js, stream)
        msg_ids = [mid for mid, _ in contents]
        assert len(contents) == appended, f"{len(contents)} on the stream, {appended} appended"
        assert set(msg_ids) == ids and len(set(msg_ids)) == len(msg_ids)
        assert all(mid == ce["id"] for mid, ce in contents)  # header names the event
        on_stream: dict[str, list[str]] = defaultdict(list)
        for _, ce in contents:
            on_stream[str(ce["subject"])].append(str(ce["id"]))
        assert on_stream == writer.appended  # same events, same per-stream order

        # And each is applied exactly once (the table has no unique key: doubles would show).
        rows = await pool.fetch('SELECT event_id::text AS id FROM "referral".applied')
        times = Counter(r["id"] for r in rows)
        assert set(times) == ids
        assert [i for i, n in times.items() if n > 1] == []
        # Not asserted, reported: a message the dying consumer leader had handed out but
        # that never arrived is redelivered only after ack_wait (30 s), after later events
        # of its stream were applied.
        applied_order: dict[str, list[str]] = defaultdict(list)
        for r in await pool.fetch(
            'SELECT event_id::text AS id, stream FROM "referral".applied ORDER BY seq'
        ):
            applied_order[r["stream"]].append(r["id"])
        late = 0  # events applied after a later event of their own stream
        for sid, got in applied_order.items():
            position = {e: i for i, e in enumerate(writer.appended[sid])}
            furthest = -1
            for e in got:
                late += position[e] < furthest
                furthest = max(furthest, position[e])
        dead = (await js.stream_info(f"{namespace}_deadletter".upper())).state.messages
        assert dead == 0

        print(
            f"\nnats cluster: killed stream leader {leader} for {down_for:.1f}s"
            f" (failover {failover:.1f}s);"
            f" events={appended} lost=0 duplicated=0 settled_in={settle:.1f}s"
            f" (on stream {on_stream_after:.1f}s, applied {applied_after:.1f}s);"
            f" applied late (after a successor): {late}"
            f" (new leader {(await js.stream_info(stream)).cluster.leader})"  # type: ignore[union-attr]
        )
    except BaseException:
        print(cluster.logs())
        raise
    finally:
        for t in tasks:
            await cancel_until_done(t)
        with contextlib.suppress(Exception):
            await broker.stop()
        with contextlib.suppress(Exception):
            await nc.close()


def test_the_documented_cluster_configs_are_valid_and_route_to_each_other(tmp_path: Path) -> None:
    """deploy/nats/cluster: with this installation's auth file copied next to them (as the
    README says), each node parses, has its own name and route port, and the documented
    route list reaches the other two."""
    import shutil

    from shared.natsauth import Credentials

    folder = tmp_path / "cluster"
    shutil.copytree(EXAMPLE, folder)
    shutil.copy(Credentials(tmp_path / "auth").server_config_path(), folder / "server-auth.conf")
    password = "rtestonly"
    names, listens = [], []
    for i in (1, 2, 3):
        text = (folder / f"node-{i}.conf").read_text()
        names += re.findall(r"^server_name: (\S+)", text, re.M)
        cluster = text[text.index("cluster {") :]
        listens += re.findall(r"^\s*listen: \S+:(\d+)", cluster, re.M)
    routes = ", ".join(f"nats-route://route:{password}@127.0.0.1:{p}" for p in listens)
    env = {
        **os.environ,
        "SAFEPATH_NATS_STORE_DIR": str(tmp_path / "store"),
        "SAFEPATH_NATS_ROUTE_PASSWORD": password,
        "SAFEPATH_NATS_ROUTES": f"[{routes}]",
    }
    for i in (1, 2, 3):
        checked = subprocess.run(
            [nats_server_binary(), "-t", "-c", str(folder / f"node-{i}.conf")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert checked.returncode == 0, checked.stderr + checked.stdout
    assert names == ["node-1", "node-2", "node-3"]
    assert len(set(listens)) == 3, listens
    readme = (EXAMPLE / "README.md").read_text()
    for port in listens:
        assert f"127.0.0.1:{port}" in readme, f"route port {port} not in the README's routes"
