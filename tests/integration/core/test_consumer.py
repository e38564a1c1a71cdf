"""The inbox consumer on a real JetStream server: redelivery is harmless, poison is parked,
each stream's events are applied in version order whatever order they arrive in."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from faststream.nats import NatsBroker
from nats.js import JetStreamContext

from shared.consumer import (
    DeadLetters,
    IdempotentConsumer,
    Outcome,
    OutOfOrder,
    PositionMoved,
    subscribe,
)
from shared.envelope import Envelope
from shared.events import Event
from shared.eventstore import Checkpoint, EventStore, NewEvent
from shared.jetstream import dead_letter_stream, dead_letter_subject, ensure_stream, stream_config
from shared.relay import Relay
from shared.runtime import keep_session
from shared.signatures import EventSigner, EventVerifier
from tests.conftest import credentials
from tests.integration.core.events import ACTOR, Noted, Tagged, noted, test_registry
from tests.keys import SIGNING_KEYS, VERIFY_KEYS, signed
from tests.servers import Servers


async def wait_for(predicate, within: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.05)):
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached in time")


Subscriber = Callable[[IdempotentConsumer, str], NatsBroker]


@pytest.fixture
def subscriber(js: JetStreamContext, namespace: str, nats_url: str, servers: Servers) -> Subscriber:
    """``subscriber(consumer, durable)``: a broker, not started, on which ``consumer`` reads
    the case stream under the durable consumer ``durable`` and dead-letters under its name."""

    def make(consumer: IdempotentConsumer, durable: str) -> NatsBroker:
        broker = NatsBroker(nats_url, user_credentials=credentials(servers, "setup", namespace))
        subscribe(
            broker,
            consumer,
            DeadLetters(js, dead_letter_subject(namespace, durable)),
            stream=f"{namespace}_CASE".upper(),
            subject=f"{namespace}.case.>",
            durable=durable,
            redeliver_after=0.1,
            verifier=EventVerifier.from_text(VERIFY_KEYS, namespace),
        )
        return broker

    return make


@pytest.fixture
async def env(
    pool: asyncpg.Pool, js: JetStreamContext, namespace: str, subscriber: Subscriber
) -> AsyncIterator[dict[str, object]]:
    stream = f"{namespace}_CASE".upper()
    await ensure_stream(js, stream_config(stream, [f"{namespace}.case.>"]))
    await ensure_stream(js, dead_letter_stream(namespace))
    # ``seq``: the order effects were written in.
    await pool.execute('CREATE TABLE "referral".effect (seq bigserial, event_id uuid, n int)')
    crashes = {"left": 0}
    failing: set[int] = set()  # values of n whose handler always fails

    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, Noted)
        await conn.execute(
            'INSERT INTO "referral".effect (event_id, n) VALUES ($1::uuid, $2)',
            envelope.id,
            event.n,
        )
        if event.n in failing:
            raise RuntimeError("this event always fails")
        if crashes["left"] > 0:  # the process dies after writing, before commit
            crashes["left"] -= 1
            raise RuntimeError("crash mid-handler")

    consumer = IdempotentConsumer(pool, "referral", "case-events", apply, registry=test_registry)
    broker = subscriber(consumer, "referral-case-events")
    await broker.start()
    yield {
        "stream": stream,
        "crashes": crashes,
        "consumer": consumer,
        "failing": failing,
        "broker": broker,
    }
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
    # Authentic but unreadable events, each the first of a stream of its own: they are
    # dead-lettered and passed over, so what comes after them in their stream goes on.
    await js.publish(
        f"{namespace}.case.poison-2.Nope",
        signed({**good, "type": "org.safepath.case.Nope.v1", "subject": "poison-2"}),
        headers={"Nats-Msg-Id": "p2"},
    )
    await js.publish(
        f"{namespace}.case.poison-3.Noted",
        signed({**good, "data": {"n": "many"}, "subject": "poison-3"}),
        headers={"Nats-Msg-Id": "p3"},
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
    positions = await pool.fetch(
        'SELECT stream_id, version FROM "referral".inbox_stream ORDER BY stream_id'
    )
    assert [(r["stream_id"], r["version"]) for r in positions] == [
        ("poison-2", 1),
        ("poison-3", 1),
        ("template", 1),
    ]


async def _one_envelope(pool: asyncpg.Pool) -> Envelope:
    store = EventStore(pool, "case", registry=test_registry)
    stored = await store.append("template", 0, [noted(7)])
    return stored[0].to_envelope("case")


async def _envelopes(pool: asyncpg.Pool, stream_id: str, values: list[int]) -> list[Envelope]:
    """Events appended to ``stream_id`` (versions 1..n), as their relay would send them."""
    store = EventStore(pool, "case", registry=test_registry)
    stored = await store.append(stream_id, 0, [noted(n) for n in values])
    return [e.to_envelope("case") for e in stored]


async def _send(js: JetStreamContext, namespace: str, env: Envelope, msg_id: str) -> None:
    await js.publish(
        f"{namespace}.case.{env.subject}.Noted", signed(env), headers={"Nats-Msg-Id": msg_id}
    )


async def applied_in_order(pool: asyncpg.Pool) -> list[int]:
    return [r["n"] for r in await pool.fetch('SELECT n FROM "referral".effect ORDER BY seq')]


async def test_events_that_arrive_out_of_order_are_applied_in_version_order(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    # As after a kill -9: versions 2 and 3 reach the consumer before version 1 comes back.
    one, two, three = await _envelopes(pool, "s", [1, 2, 3])
    await _send(js, namespace, three, "m3")
    await _send(js, namespace, two, "m2")
    await asyncio.sleep(1.0)  # they wait: nothing is applied before version 1
    assert await applied_in_order(pool) == []
    await _send(js, namespace, one, "m1")

    async def all_three() -> bool:
        return len(await applied_in_order(pool)) == 3

    await wait_for(all_three)
    assert await applied_in_order(pool) == [1, 2, 3]


async def test_a_late_copy_of_an_older_event_is_never_applied_after_a_newer_one(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    one, two = await _envelopes(pool, "s", [1, 2])
    await _send(js, namespace, one, "m1")
    await _send(js, namespace, two, "m2")
    await _send(js, namespace, one, "m1-late")  # redelivered after ack_wait, say
    (after,) = await _envelopes(pool, "t", [9])
    await _send(js, namespace, after, "m9")

    async def done() -> bool:
        return 9 in await applied_in_order(pool)

    await wait_for(done)
    assert await applied_in_order(pool) == [1, 2, 9]


async def test_events_of_other_types_keep_the_versions_without_holes(
    pool: asyncpg.Pool, js: JetStreamContext, namespace: str, env: dict
) -> None:
    # The consumer reads only ``Noted``; the ``Tagged`` event at version 1 must move its
    # position, or version 2 would wait for ever.
    env["consumer"].types = {"Noted"}
    store = EventStore(pool, "case", registry=test_registry)
    stored = await store.append("s", 0, [NewEvent(Tagged(tag="x"), ACTOR, "corr-t"), noted(2)])
    tagged, two = (e.to_envelope("case") for e in stored)
    await js.publish(f"{namespace}.case.s.Tagged", signed(tagged), headers={"Nats-Msg-Id": "m1"})
    await _send(js, namespace, two, "m2")

    async def two_applied() -> bool:
        return await applied_in_order(pool) == [2]

    await wait_for(two_applied)


async def test_an_event_whose_handler_always_fails_is_dead_lettered_then_passed_over(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> None:
    env["failing"].add(13)
    bad, good = await _envelopes(pool, "s", [13, 14])
    await _send(js, namespace, bad, "m1")
    await _send(js, namespace, good, "m2")

    async def good_applied() -> bool:
        return await applied_in_order(pool) == [14]

    await wait_for(good_applied, within=30.0)
    attempts = await pool.fetchval(
        'SELECT attempts FROM "referral".inbox_failure WHERE event_id = $1::uuid', bad.id
    )
    assert attempts == 8  # max_deliver, counted in Postgres across replicas
    dl = await js.get_msg(f"{namespace}_deadletter".upper(), 1)
    assert dl.headers is not None
    assert dl.headers["Safepath-Dead-Letter-Reason"] == "handler failed 8 times: RuntimeError"


async def test_two_replicas_on_one_durable_consumer_keep_each_streams_order(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str, subscriber: Subscriber
) -> None:
    # A second replica: another connection pulling from the same durable consumer.
    replica = subscriber(env["consumer"], "referral-case-events")
    await replica.start()
    try:
        streams = {f"s{k}": await _envelopes(pool, f"s{k}", list(range(k * 100, k * 100 + 20)))
                   for k in range(1, 5)}  # fmt: skip
        for i in range(20):  # interleaved: s1 v1, s2 v1, ..., s1 v2, ...
            for name, envs in streams.items():
                await _send(js, namespace, envs[i], f"{name}-{i}")

        async def all_applied() -> bool:
            return len(await applied_in_order(pool)) == 80

        await wait_for(all_applied, within=60.0)
    finally:
        await replica.stop()
    applied = await applied_in_order(pool)
    for k in range(1, 5):
        mine = [n for n in applied if n // 100 == k]
        assert mine == sorted(mine), f"stream s{k} applied out of order: {mine}"
    assert sorted(applied) == sorted(n for k in range(1, 5) for n in range(k * 100, k * 100 + 20))


async def test_events_of_types_a_consumer_does_not_read_pass_unparsed_in_their_turn(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str, subscriber: Subscriber
) -> None:
    # A consumer that reads only ``Noted``: a signed ``Tagged`` whose data its own schema
    # would refuse is none of its business. It moves the stream's position (or version 2
    # would wait for ever) and is not dead-lettered; a forged one moves nothing.
    seen: list[int] = []

    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, Noted)
        seen.append(event.n)

    noted_only = IdempotentConsumer(
        pool, "referral", "noted-only", apply, types={"Noted"}, registry=test_registry
    )
    reader = subscriber(noted_only, "noted-only")
    store = EventStore(pool, "case", registry=test_registry)
    stored = await store.append("t", 0, [NewEvent(Tagged(tag="x"), ACTOR, "corr-t"), noted(7)])
    tagged, seven = (e.to_envelope("case") for e in stored)
    odd = {**tagged.to_dict(), "data": {"tag": 5}}  # not a string: Tagged's schema refuses it
    forged = {**tagged.to_dict(), "subject": "u"}  # unsigned: must not move stream u
    await reader.start()
    try:
        await js.publish(f"{namespace}.case.u.Tagged", json.dumps(forged).encode())
        await js.publish(f"{namespace}.case.t.Tagged", signed(odd), headers={"Nats-Msg-Id": "o1"})
        await _send(js, namespace, seven, "o2")

        async def seven_applied() -> bool:
            return seen == [7]

        await wait_for(seven_applied)
    finally:
        await reader.stop()
    positions = await _positions(pool, "noted-only")
    assert positions == {"t": 2}  # the forged event of stream u moved nothing
    dl = await js.stream_info(f"{namespace}_deadletter".upper())
    reasons = []
    for seq in range(1, (dl.state.last_seq or 0) + 1):
        m = await js.get_msg(f"{namespace}_deadletter".upper(), seq)
        if m.subject == dead_letter_subject(namespace, "noted-only"):
            reasons.append((m.headers or {}).get("Safepath-Dead-Letter-Reason", ""))
    assert len(reasons) == 1 and reasons[0].startswith("not authentic"), reasons


def _batch_reader(
    pool: asyncpg.Pool, subscriber: Subscriber, durable: str, failing: set[int]
) -> tuple[NatsBroker, list[int]]:
    """A second consumer of the case stream (its own durable), not started yet: what is
    published before it starts is there for its first fetch, in one batch."""
    seen: list[int] = []

    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, Noted)
        await conn.execute(
            'INSERT INTO "referral".effect (event_id, n) VALUES ($1::uuid, $2)',
            envelope.id,
            event.n,
        )
        if event.n in failing:
            raise RuntimeError("this event always fails")
        seen.append(event.n)

    consumer = IdempotentConsumer(pool, "referral", durable, apply, registry=test_registry)
    return subscriber(consumer, durable), seen


async def _positions(pool: asyncpg.Pool, consumer: str) -> dict[str, int]:
    """Stream id -> the last version ``consumer`` applied (or passed over)."""
    rows = await pool.fetch(
        'SELECT stream_id, version FROM "referral".inbox_stream WHERE consumer = $1', consumer
    )
    return {r["stream_id"]: r["version"] for r in rows}


async def _applied_by(pool: asyncpg.Pool, durable: str) -> dict[str, int]:
    """Event id -> the transaction that applied it, for ``durable``."""
    rows = await pool.fetch(
        'SELECT event_id::text AS id, xmin::text::bigint AS tx FROM "referral".inbox'
        " WHERE consumer = $1",
        durable,
    )
    return {r["id"]: r["tx"] for r in rows}


async def test_a_fetched_batch_is_applied_in_one_transaction_in_each_streams_order(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str, subscriber: Subscriber
) -> None:
    # Stream a's version 2 comes on JetStream before its version 1 (a republished copy):
    # in the batch, version 1 is applied first, so both go in the one transaction.
    await env["broker"].stop()  # the fixture's consumer stays out of the way
    a1, a2 = await _envelopes(pool, "a", [1, 2])
    others = [(await _envelopes(pool, f"b{k}", [10 + k]))[0] for k in range(4)]
    await _send(js, namespace, a2, "a2")
    await _send(js, namespace, a1, "a1")
    for k, e in enumerate(others):
        await _send(js, namespace, e, f"b{k}")
    reader, seen = _batch_reader(pool, subscriber, "batch-reader", set())
    await reader.start()
    try:

        async def all_six() -> bool:
            return len(seen) == 6

        await wait_for(all_six)
    finally:
        await reader.stop()
    assert seen == [1, 2, 10, 11, 12, 13]  # stream a in version order, then the rest
    by = await _applied_by(pool, "batch-reader")
    assert len(by) == 6
    assert len(set(by.values())) == 1, by  # one transaction for the whole fetch


async def test_a_failing_event_in_a_batch_changes_nothing_for_the_others(
    env: dict, pool: asyncpg.Pool, js: JetStreamContext, namespace: str, subscriber: Subscriber
) -> None:
    # One poison handler among five streams: the batch is rolled back and applied one by
    # one; the four others are applied once each, the failing one is retried and
    # dead-lettered after max_deliver attempts exactly as when it comes alone.
    await env["broker"].stop()
    envs = [(await _envelopes(pool, f"c{k}", [20 + k]))[0] for k in range(5)]
    for k, e in enumerate(envs):
        await _send(js, namespace, e, f"c{k}")
    reader, seen = _batch_reader(pool, subscriber, "batch-failing", {22})
    await reader.start()
    try:

        async def parked() -> bool:
            info = await js.stream_info(f"{namespace}_deadletter".upper())
            return info.state.messages == 1

        await wait_for(parked, within=30.0)
    finally:
        await reader.stop()
    # Each applied once: the effects the rolled-back batch wrote are gone (its handlers
    # ran, so ``seen``, outside the transaction, holds the first ones twice).
    assert await effects(pool) == [20, 21, 23, 24]
    assert sorted(set(seen)) == [20, 21, 23, 24]
    attempts = await pool.fetchval(
        'SELECT attempts FROM "referral".inbox_failure WHERE event_id = $1::uuid', envs[2].id
    )
    assert attempts == 8
    dl = await js.get_msg(f"{namespace}_deadletter".upper(), 1)
    assert dl.headers is not None
    assert dl.headers["Safepath-Dead-Letter-Reason"] == "handler failed 8 times: RuntimeError"
    positions = await _positions(pool, "batch-failing")
    assert positions == {f"c{k}": 1 for k in range(5)}  # the failed one passed over
    by = await _applied_by(pool, "batch-failing")
    assert len(by) == 4 and envs[2].id not in by


async def test_a_batch_moves_its_positions_at_once_and_reports_each_event(
    pool: asyncpg.Pool,
) -> None:
    seen: list[int] = []

    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
        assert isinstance(event, Noted)
        seen.append(event.n)

    consumer = IdempotentConsumer(pool, "referral", "direct", apply, registry=test_registry)
    a1, a2, a3 = await _envelopes(pool, "a", [1, 2, 3])
    (b1,) = await _envelopes(pool, "b", [10])
    noted_of = {e.id: test_registry.load(e.type, e.data) for e in (a1, a2, a3, b1)}

    def of(*envs: Envelope) -> list[tuple[Envelope, Event | None]]:
        return [(e, noted_of[e.id]) for e in envs]

    first = await consumer.handle_batch(of(a1, b1, a3))
    assert first[:2] == [Outcome.HANDLED, Outcome.HANDLED]
    assert isinstance(first[2], OutOfOrder) and (first[2].expected, first[2].got) == (2, 3)
    assert await consumer.handle_batch(of(a1, a2, a3)) == [
        Outcome.DUPLICATE,
        Outcome.HANDLED,
        Outcome.HANDLED,
    ]
    assert seen == [1, 10, 2, 3]
    positions = await _positions(pool, "direct")
    assert positions == {"a": 3, "b": 1}


async def test_a_batch_whose_position_another_transaction_moved_changes_nothing(
    pool: asyncpg.Pool,
) -> None:
    # Another replica claims stream c's first event while the batch reads the positions:
    # the batch's claim finds the position moved, raises, and writes nothing.
    seen: list[int] = []

    async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
        seen.append(1)

    consumer = IdempotentConsumer(pool, "referral", "raced", apply, registry=test_registry)
    (c1,) = await _envelopes(pool, "c", [1])
    (d1,) = await _envelopes(pool, "d", [2])
    batch = [(e, test_registry.load(e.type, e.data)) for e in (c1, d1)]
    async with pool.acquire() as other:
        tx = other.transaction()
        await tx.start()
        await other.execute(
            'INSERT INTO "referral".inbox_stream (consumer, source, stream_id, version)'
            " VALUES ('raced', 'case', 'c', 1)"
        )
        racing = asyncio.create_task(consumer.handle_batch(batch))
        await asyncio.sleep(0.5)  # the batch read no position and waits on the insert
        assert not racing.done()
        await tx.commit()
        with pytest.raises(PositionMoved):
            await racing
    assert seen == []
    positions = await _positions(pool, "raced")
    assert positions == {"c": 1}  # d's position was not moved either


async def test_an_applied_event_costs_one_statement_besides_its_effects(
    pool: asyncpg.Pool, database_url: str
) -> None:
    # Issue 12: the claim of an event's position and its inbox row are one statement, one
    # event at a time and in a batch; an event passed over writes no inbox row, and a
    # second delivery writes nothing.
    # The consumer's pool: one connection, released as the services' pools release theirs.
    async with asyncpg.create_pool(database_url, min_size=1, max_size=1, reset=keep_session) as one:
        sent: list[str] = []

        def logged(q: Any) -> None:  # an asyncpg LoggedQuery
            sent.append(q.query.split()[0].rstrip(";").upper())

        async with one.acquire() as c:
            c.add_query_logger(logged)

        async def apply(conn: asyncpg.Connection, envelope: Envelope, event: Event) -> None:
            await conn.execute("SELECT 'effect'")

        consumer = IdempotentConsumer(
            one, "referral", "counted", apply, types={"Noted"}, registry=test_registry
        )
        a1, a2, a3, a4 = await _envelopes(pool, "a", [1, 2, 3, 4])
        (t1,) = [
            e.to_envelope("case")
            for e in await EventStore(pool, "case", registry=test_registry).append(
                "t", 0, [NewEvent(Tagged(tag="x"), ACTOR, "corr")]
            )
        ]
        noted_of = {e.id: test_registry.load(e.type, e.data) for e in (a1, a2, a3, a4)}
        sent.clear()

        assert await consumer.handle(a1, noted_of[a1.id]) == Outcome.HANDLED
        assert sent == ["BEGIN", "WITH", "SELECT", "COMMIT"]  # claim + inbox, effect
        sent.clear()
        assert await consumer.handle(a2, noted_of[a2.id]) == Outcome.HANDLED
        assert sent == ["BEGIN", "WITH", "SELECT", "COMMIT"]
        sent.clear()
        assert await consumer.handle(a2, noted_of[a2.id]) == Outcome.DUPLICATE
        assert await consumer.handle(t1, None) == Outcome.IGNORED
        # (a first batch makes asyncpg look up the array types: not counted)
        b1, b2 = await _envelopes(pool, "b", [5, 6])
        warm = [(e, test_registry.load(e.type, e.data)) for e in (b1, b2)]
        assert await consumer.handle_batch(warm) == [Outcome.HANDLED, Outcome.HANDLED]
        sent.clear()
        batch = [(e, noted_of[e.id]) for e in (a3, a4)]
        assert await consumer.handle_batch(batch) == [Outcome.HANDLED, Outcome.HANDLED]
        # positions read; claimed with the inbox rows; two effects
        assert sent == ["SELECT", "BEGIN", "WITH", "SELECT", "SELECT", "COMMIT"]

        inbox = {
            r["id"]
            for r in await one.fetch(
                'SELECT event_id::text AS id FROM "referral".inbox WHERE consumer = $1', "counted"
            )
        }
        assert inbox == {a1.id, a2.id, a3.id, a4.id, b1.id, b2.id}  # not the one passed over
        assert await _positions(one, "counted") == {"a": 4, "b": 2, "t": 1}
