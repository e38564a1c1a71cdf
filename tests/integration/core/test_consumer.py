"""The inbox consumer on a real JetStream server: redelivery is harmless, poison is parked."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from faststream.nats import NatsBroker
from nats.js import JetStreamContext

from shared.consumer import DeadLetters, IdempotentConsumer, subscribe
from shared.envelope import Envelope
from shared.events import Event
from shared.eventstore import Checkpoint, EventStore
from shared.jetstream import dead_letter_stream, dead_letter_subject, ensure_stream, stream_config
from shared.relay import Relay
from shared.signatures import EventSigner, EventVerifier
from tests.conftest import credentials
from tests.integration.core.events import Noted, noted, test_registry
from tests.keys import SIGNING_KEYS, VERIFY_KEYS, signed
from tests.servers import Servers


async def wait_for(predicate, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


@pytest.fixture
async def env(
    pool: asyncpg.Pool, js: JetStreamContext, namespace: str, nats_url: str, servers: Servers
) -> AsyncIterator[dict[str, object]]:
    stream = f"{namespace}_CASE".upper()
    await ensure_stream(js, stream_config(stream, [f"{namespace}.case.>"]))
    await ensure_stream(js, dead_letter_stream(namespace))
    await pool.execute('CREATE TABLE "referral".effect (event_id uuid, n int)')
    crashes = {"left": 0}

    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, Noted)
        await conn.execute(
            'INSERT INTO "referral".effect VALUES ($1::uuid, $2)', envelope.id, event.n
        )
        if crashes["left"] > 0:  # the process dies after writing, before commit
            crashes["left"] -= 1
            raise RuntimeError("crash mid-handler")

    consumer = IdempotentConsumer(pool, "referral", "case-events", apply, registry=test_registry)
    broker = NatsBroker(nats_url, user_credentials=credentials(servers, "setup", namespace))
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
    yield {"stream": stream, "crashes": crashes, "consumer": consumer}
    await broker.stop()


async def effects(pool: asyncpg.Pool) -> list[int]:
    return [r["n"] for r in await pool.fetch('SELECT n FROM "referral".effect ORDER BY n')]


async def publish_events(pool: asyncpg.Pool, js: JetStreamContext, namespace: str, n: int) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    for i in range(n):
        await store.append("s", i, [noted(i)])
    relay = Relay(
        store,
        js,
        subject_root=f"{namespace}.case",
        stream=f"{namespace}_CASE".upper(),
        signer=EventSigner(SIGNING_KEYS["case"]),
    )
    await relay.publish_batch(Checkpoint())


async def test_redelivery_after_a_crash_mid_handler_has_one_effect(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    env["crashes"]["left"] = 2
    await publish_events(pool, js, namespace, 3)

    async def three() -> bool:
        return await effects(pool) == [0, 1, 2]

    await wait_for(three)
    assert env["crashes"]["left"] == 0  # the crashes did happen


async def test_the_same_event_delivered_twice_is_applied_once(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    await publish_events(pool, js, namespace, 1)
    first = await js.get_msg(env["stream"], 1)
    # Republish the same CloudEvent under a new message id: JetStream cannot dedupe it,
    # the inbox must.
    await js.publish(f"{namespace}.case.s.Noted", first.data, headers={"Nats-Msg-Id": "again"})
    await publish_events_after(pool, js, namespace)

    async def done() -> bool:
        return 99 in await effects(pool)

    await wait_for(done)
    assert await effects(pool) == [0, 99]


async def publish_events_after(pool: asyncpg.Pool, js: JetStreamContext, namespace: str) -> None:
    store = EventStore(pool, "case", registry=test_registry)
    await store.append("later", 0, [noted(99)])
    relay = Relay(
        store,
        js,
        subject_root=f"{namespace}.case",
        stream=f"{namespace}_CASE".upper(),
        signer=EventSigner(SIGNING_KEYS["case"]),
    )
    relay.name = "relay2"
    events = await store.read_all(Checkpoint())
    await relay.publish_batch(events[-2].checkpoint)


async def test_poison_messages_go_to_dead_letters_and_do_not_block(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    subject = f"{namespace}.case.template.Noted"
    good = json.loads((await _one_envelope(pool)).to_json())
    await js.publish(subject, b"\xff not json", headers={"Nats-Msg-Id": "p1"})
    await js.publish(
        f"{namespace}.case.template.Nope",
        signed({**good, "type": "org.safepath.case.Nope.v1"}),
        headers={"Nats-Msg-Id": "p2"},
    )
    await js.publish(
        subject, signed({**good, "data": {"n": "many"}}), headers={"Nats-Msg-Id": "p3"}
    )
    await js.publish(subject, signed({"specversion": "1.0"}, "case"), headers={"Nats-Msg-Id": "p4"})
    await js.publish(subject, signed(good), headers={"Nats-Msg-Id": "p5"})

    async def good_applied() -> bool:
        return await effects(pool) == [7]

    await wait_for(good_applied)
    dl = f"{namespace}_deadletter".upper()

    async def four_parked() -> bool:
        return (await js.stream_info(dl)).state.messages == 4

    await wait_for(four_parked)
    reasons = [
        (await js.get_msg(dl, s)).headers["Safepath-Dead-Letter-Reason"] for s in range(1, 5)
    ]
    assert reasons[0] == "not authentic: not JSON"
    assert reasons[1].startswith("unknown event type")
    assert "violates its schema at: n" in reasons[2]
    assert reasons[3].startswith("not authentic: event source")


async def _one_envelope(pool: asyncpg.Pool) -> Envelope:
    store = EventStore(pool, "case", registry=test_registry)
    stored = await store.append("template", 0, [noted(7)])
    return stored[0].to_envelope("case")
