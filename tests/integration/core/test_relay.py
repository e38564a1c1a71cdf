"""The relay against real Postgres and NATS JetStream: nothing lost, nothing doubled."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import nats
import pytest
from nats.js import JetStreamContext

from shared import relay as relay_module
from shared.devservers import EmbeddedNats
from shared.eventstore import Checkpoint, EventStore, StoredEvent
from shared.jetstream import ensure_stream, stream_config
from shared.natsauth import Credentials
from shared.relay import Relay
from shared.runtime import cancel_until_done
from shared.signatures import EventSigner
from tests.integration.core.events import noted, test_registry
from tests.keys import SIGNING_KEYS


class Killed(BaseException):
    """Stands for the process dying: nothing after it runs (not even the checkpoint save)."""


async def stream_messages(js: JetStreamContext, stream: str) -> list[dict[str, object]]:
    info = await js.stream_info(stream)
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        msg = await js.get_msg(stream, seq)
        out.append({**json.loads(msg.data or b"{}"), "nats_subject": msg.subject})
    return out


def make_relay(
    store: EventStore,
    js: JetStreamContext,
    ns: str,
    *,
    poll_seconds: float = 0.25,
    checkpoint_seconds: float = relay_module.CHECKPOINT_SECONDS,
) -> Relay:
    return Relay(
        store,
        js,
        subject_root=f"{ns}.case",
        stream=f"{ns}_CASE".upper(),
        batch=50,
        signer=EventSigner(SIGNING_KEYS["case"]),
        poll_seconds=poll_seconds,
        checkpoint_seconds=checkpoint_seconds,
    )


@pytest.fixture
async def setup(
    pool: asyncpg.Pool, js: JetStreamContext, namespace: str
) -> AsyncIterator[EventStore]:
    await ensure_stream(js, stream_config(f"{namespace}_CASE".upper(), [f"{namespace}.case.>"]))
    yield EventStore(pool, "case", registry=test_registry)


async def test_publishes_each_event_once_with_its_id_as_message_id(
    setup: EventStore, js: JetStreamContext, namespace: str
) -> None:
    store = setup
    for s in ("a", "b"):
        for i in range(3):
            await store.append(s, i, [noted(i)])
    relay = make_relay(store, js, namespace)
    cp, sent = await relay.publish_batch(Checkpoint())
    assert sent == 6 and await relay.publish_batch(cp) == (cp, 0)
    msgs = await stream_messages(js, f"{namespace}_CASE".upper())
    assert [m["nats_subject"] for m in msgs][:3] == [f"{namespace}.case.a.Noted"] * 3
    assert [m["streamversion"] for m in msgs if m["nats_subject"].endswith("b.Noted")] == [1, 2, 3]
    ids = [str(e.event_id) for e in await store.read_all(Checkpoint())]
    assert [m["id"] for m in msgs] == ids
    # The message id header is what JetStream deduplicates on.
    raw = await js.get_msg(f"{namespace}_CASE".upper(), 1)
    assert raw.headers and raw.headers["Nats-Msg-Id"] == ids[0]
    assert await store.get_checkpoint("relay") == cp


async def test_killed_between_publish_and_checkpoint_then_restarted(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = setup
    for i in range(20):
        await store.append("s", i, [noted(i)])
    relay = make_relay(store, js, namespace)

    async def die_after_seventh(ev: StoredEvent) -> None:
        if ev.stream_version == 7:
            raise Killed

    async def no_save(*_: object, **__: object) -> None:
        raise Killed  # the process is gone: the checkpoint is never written

    relay.after_publish = die_after_seventh
    # Windows of 4 in flight (the first event goes alone): killed after the window that
    # holds version 7, so versions 1 to 9 are on the stream and 10 to 20 are not.
    monkeypatch.setattr(relay_module, "IN_FLIGHT", 4)
    with monkeypatch.context() as m:
        m.setattr(store, "save_checkpoint", no_save)
        with pytest.raises(Killed):
            await relay.publish_batch(Checkpoint())
    assert await store.get_checkpoint("relay") == Checkpoint()  # publish happened, checkpoint not
    on_stream = (await js.stream_info(f"{namespace}_CASE".upper())).state.messages
    assert on_stream == 9

    restarted = make_relay(store, js, namespace)
    task = asyncio.create_task(restarted.run())
    try:
        for _ in range(200):
            info = await js.stream_info(f"{namespace}_CASE".upper())
            if info.state.messages >= 20 and restarted.published >= 11:
                break
            await asyncio.sleep(0.05)
    finally:
        await cancel_until_done(task)
    msgs = await stream_messages(js, f"{namespace}_CASE".upper())
    assert [m["streamversion"] for m in msgs] == list(range(1, 21))
    assert restarted.published == 11  # the 9 already on the stream were skipped, not resent


async def test_nats_down_then_up_delivers_all_events_in_stream_order(
    pool: asyncpg.Pool, tmp_path: Path, namespace: str
) -> None:
    auth = Credentials(tmp_path / "auth")
    server = EmbeddedNats(tmp_path / "nats", config=auth.server_config_path())
    server.start()
    nc = await nats.connect(
        server.url,
        user_credentials=str(auth.issue("setup", namespace)),
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.1,
        allow_reconnect=True,
    )
    try:
        js = nc.jetstream(timeout=1.0)
        stream = f"{namespace}_CASE".upper()
        await ensure_stream(js, stream_config(stream, [f"{namespace}.case.>"]))
        store = EventStore(pool, "case", registry=test_registry)
        relay = Relay(
            store,
            js,
            subject_root=f"{namespace}.case",
            stream=stream,
            batch=100,
            signer=EventSigner(SIGNING_KEYS["case"]),
        )
        task = asyncio.create_task(relay.run())
        await store.append("warm", 0, [noted(0)])
        for _ in range(100):
            if relay.published:
                break
            await asyncio.sleep(0.05)

        server.stop()
        versions = {f"s{k}": 0 for k in range(10)}
        for i in range(1000):
            sid = f"s{i % 10}"
            await store.append(sid, versions[sid], [noted(i)])
            versions[sid] += 1
        await asyncio.sleep(1.0)
        server.start()  # same port, same store directory

        for _ in range(600):
            if relay.published >= 1001:
                break
            await asyncio.sleep(0.05)
        await cancel_until_done(task)
        msgs = await stream_messages(js, stream)
    finally:
        await nc.close()
        server.stop()
    by_stream: dict[str, list[int]] = defaultdict(list)
    for m in msgs:
        by_stream[str(m["nats_subject"]).split(".")[2]].append(int(m["streamversion"]))  # type: ignore[call-overload]
    assert len(msgs) == 1001
    assert all(v == list(range(1, 101)) for k, v in by_stream.items() if k != "warm")
    assert len(by_stream) == 11


async def test_a_foreign_message_on_the_stream_does_not_stop_the_relay(
    setup: EventStore, js: JetStreamContext, namespace: str
) -> None:
    store = setup
    stream = f"{namespace}_CASE".upper()
    await js.publish(f"{namespace}.case.x.Foo", b"{}", headers={"Nats-Msg-Id": "not-a-uuid"})
    await store.append("s", 0, [noted(1)])
    relay = make_relay(store, js, namespace)
    assert await relay._already_published(Checkpoint()) == Checkpoint()
    _, sent = await relay.publish_batch(Checkpoint())
    assert sent == 1 and (await js.stream_info(stream)).state.messages == 2


async def test_a_lost_first_publish_with_later_ones_through_is_published_again(
    setup: EventStore, js: JetStreamContext, namespace: str
) -> None:
    # A batch whose first publish was lost in a reconnect while nats-py sent the later
    # ones it had buffered: the stream holds events 2..5 but not 1. Jumping to the last
    # message (event 5) would lose event 1 for good.
    store = setup
    stored = [(await store.append("s", i, [noted(i)]))[0] for i in range(5)]
    stream = f"{namespace}_CASE".upper()
    signer = EventSigner(SIGNING_KEYS["case"])
    for ev in stored[1:]:
        doc = signer.sign(ev.to_envelope("case").to_dict())
        await js.publish(
            f"{namespace}.case.s.Noted",
            json.dumps(doc).encode(),
            headers={"Nats-Msg-Id": str(ev.event_id)},
        )
    relay = make_relay(store, js, namespace)
    start = await relay._already_published(Checkpoint())
    assert start == Checkpoint()  # not past event 1
    await relay.publish_batch(start)
    msgs = await stream_messages(js, stream)
    assert sorted(m["id"] for m in msgs) == sorted(str(e.event_id) for e in stored)
    assert len(msgs) == 5  # 2..5 were dropped by JetStream as duplicates


async def test_a_gapless_run_on_the_stream_is_skipped(
    setup: EventStore, js: JetStreamContext, namespace: str
) -> None:
    store = setup
    for i in range(5):
        await store.append("s", i, [noted(i)])
    relay = make_relay(store, js, namespace)
    cp, _ = await relay.publish_batch(Checkpoint())
    # The checkpoint was lost (say, a crash before saving it): the stream is checked.
    assert await relay._already_published(Checkpoint()) == cp


async def _one_stream(store: EventStore, n: int) -> list[StoredEvent]:
    """``n`` events appended to stream "s", one per append, as the store holds them."""
    for i in range(n):
        await store.append("s", i, [noted(i)])
    return await store.read_all(Checkpoint())


class _LosesOnePublish:
    """The relay's JetStream context, except that the publish of one event is lost (as in
    a reconnect) while the rest of its window is sent."""

    def __init__(self, js: JetStreamContext, event_id: str, *, cancelled: bool = False) -> None:
        self._js, self._lost, self._cancelled = js, event_id, cancelled
        self.expectations: list[str] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._js, name)

    async def publish(self, subject: str, payload: bytes, **kw: Any) -> Any:
        headers = kw.get("headers") or {}
        self.expectations.append(headers.get("Nats-Expected-Last-Msg-Id", "-"))
        if headers.get("Nats-Msg-Id") == self._lost:
            self._lost = ""
            if self._cancelled:
                raise asyncio.CancelledError
            raise nats.errors.TimeoutError
        return await self._js.publish(subject, payload, **kw)


async def test_an_event_lost_in_a_window_leaves_no_hole_on_the_stream(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events sent before their acks name the event they follow: when one is lost,
    JetStream refuses the later ones of its window instead of storing them after a
    hole (the relay sent whole batches without it once, and a NATS restart left holes)."""
    store = setup
    events = await _one_stream(store, 12)
    monkeypatch.setattr(relay_module, "IN_FLIGHT", 8)
    relay = make_relay(store, js, namespace)
    lossy = _LosesOnePublish(js, str(events[4].event_id))  # version 5, in the first window
    relay.js = lossy  # type: ignore[assignment]
    with pytest.raises(nats.errors.TimeoutError):
        await relay.publish_batch(Checkpoint())
    stream = f"{namespace}_CASE".upper()
    # Version 1 went alone (no last sequence known yet), 2 to 9 as one window: 6 to 9 were
    # refused (fails without the header: they would be stored after the hole at 5).
    ids = [str(e.event_id) for e in events]
    assert lossy.expectations[:9] == ["-", *ids[:8]]
    assert [m["streamversion"] for m in await stream_messages(js, stream)] == [1, 2, 3, 4]
    assert await store.get_checkpoint("relay") == events[3].checkpoint

    task = asyncio.create_task(relay.run())  # from its checkpoint, as after any failure
    try:
        for _ in range(200):
            if (await js.stream_info(stream)).state.messages >= 12:
                break
            await asyncio.sleep(0.05)
    finally:
        await cancel_until_done(task)
    assert [m["streamversion"] for m in await stream_messages(js, stream)] == list(range(1, 13))


class _RecordsAcks:
    """The relay's JetStream context, recording each publish's expectation and ack."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self.acks: list[tuple[str, bool]] = []  # (expected last sequence or "-", duplicate)

    def __getattr__(self, name: str) -> object:
        return getattr(self._js, name)

    async def publish(self, subject: str, payload: bytes, **kw: Any) -> Any:
        ack = await self._js.publish(subject, payload, **kw)
        expected = (kw.get("headers") or {}).get("Nats-Expected-Last-Msg-Id", "-")
        self.acks.append((expected, bool(ack.duplicate)))
        return ack


async def test_an_event_already_on_the_stream_inside_a_window_is_not_stored_twice(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy JetStream drops (the event is already on the stream) is not the stream's last
    message, which the next of the window expects: the rest of the window is refused and
    the relay goes on one at a time. Every event ends up on the stream once. (This checks
    the outcome; the relay's early end of the window at the copy only spares a refused
    window when the copy is the last of one, which no assertion here can see.)"""
    store = setup
    monkeypatch.setattr(relay_module, "IN_FLIGHT", 4)
    relay = make_relay(store, js, namespace)
    recorded = _RecordsAcks(js)
    relay.js = recorded  # type: ignore[assignment]
    for i in range(3):
        await store.append("s", i, [noted(i)])
    await relay.publish_batch(Checkpoint())
    for i in range(3, 10):
        await store.append("s", i, [noted(i)])
    events = await store.read_all(Checkpoint())
    stream = f"{namespace}_CASE".upper()
    # Version 6 reaches the stream ahead of 4 and 5 (a copy sent by hand, say): the relay
    # repairs the hole by publishing 4 and 5, and then meets 6 again inside a window.
    doc = EventSigner(SIGNING_KEYS["case"]).sign(events[5].to_envelope("case").to_dict())
    await js.publish(
        f"{namespace}.case.s.Noted",
        json.dumps(doc).encode(),
        headers={"Nats-Msg-Id": str(events[5].event_id)},
    )
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(200):
            if await store.get_checkpoint("relay") == events[-1].checkpoint:
                break
            await asyncio.sleep(0.05)
    finally:
        await cancel_until_done(task)
    ids = [m["id"] for m in await stream_messages(js, stream)]
    assert sorted(ids) == sorted(str(e.event_id) for e in events)  # each once
    # Version 6's copy, dropped inside a window (it expected version 5 before it).
    assert (str(events[4].event_id), True) in recorded.acks


async def test_a_message_another_publisher_adds_mid_run_does_not_stop_the_relay(
    setup: EventStore, js: JetStreamContext, namespace: str
) -> None:
    """A window's expectations are refused when the stream moved on without the relay (a
    message someone else published, with an id the store does not know): nothing of the
    window was stored, and the relay goes on one at a time instead of stopping as if the
    store were behind the stream."""
    store = setup
    relay = make_relay(store, js, namespace)
    for i in range(3):
        await store.append("s", i, [noted(i)])
    cp, _ = await relay.publish_batch(Checkpoint())  # the relay now knows the last sequence
    stream = f"{namespace}_CASE".upper()
    await js.publish(f"{namespace}.case.x.Foo", b"{}", headers={"Nats-Msg-Id": str(uuid4())})
    for i in range(3, 8):
        await store.append("s", i, [noted(i)])
    cp, sent = await relay.publish_batch(cp)
    assert sent == 5 and cp == (await store.read_all(Checkpoint()))[-1].checkpoint
    versions = [m.get("streamversion") for m in await stream_messages(js, stream)]
    assert versions == [1, 2, 3, None, 4, 5, 6, 7, 8]


async def test_a_publish_cancelled_under_the_relay_is_a_failed_round_not_its_end(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish of a window cancelled by the client (not the relay's own cancellation)
    fails the round like a lost ack, which the relay retries; re-raised as a cancellation
    it would end the relay's task for good."""
    store = setup
    events = await _one_stream(store, 6)
    monkeypatch.setattr(relay_module, "IN_FLIGHT", 8)
    relay = make_relay(store, js, namespace)
    relay.js = _LosesOnePublish(js, str(events[2].event_id), cancelled=True)  # type: ignore[assignment]
    with pytest.raises(nats.errors.TimeoutError):
        await relay.publish_batch(Checkpoint())
    assert await store.get_checkpoint("relay") == events[1].checkpoint


async def test_a_relay_caught_up_reads_once_per_commit_announced(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a round that published, the relay waits for the next commit instead of
    reading again to find nothing; a commit announced while it published is still read
    at once (the wake is cleared before each read), and nothing waits for the poll."""
    store = setup
    reads = 0
    real_read = store.read_all_held

    async def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal reads
        reads += 1
        return await real_read(*args, **kwargs)

    monkeypatch.setattr(store, "read_all_held", counted)
    # A 30 s poll: during the test only commits announced wake it.
    relay = make_relay(store, js, namespace, poll_seconds=30.0)
    task = asyncio.create_task(relay.run())
    try:
        for _ in range(100):  # the first round: nothing to publish yet
            if reads:
                break
            await asyncio.sleep(0.02)
        for n in range(1, 4):  # one commit at a time, each read once
            await store.append("one", n - 1, [noted(n)])
            for _ in range(200):
                if relay.published == n:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.2)  # time for a needless read, were there one
            assert (relay.published, reads) == (n, 1 + n)
        # Commits announced while the relay publishes: none waits for the 30 s poll.
        for v in range(3, 13):
            await store.append("one", v, [noted(v)])
        for _ in range(250):
            if relay.published == 13:
                break
            await asyncio.sleep(0.02)
        assert relay.published == 13
    finally:
        await cancel_until_done(task)


async def _until(condition: Any, within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if await condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")


async def test_a_running_relay_saves_its_position_once_per_period_not_per_round(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: a save is a commit and a WAL flush; a relay saved one per round, which at
    a low rate is one per event. It now saves the position JetStream acked at most once a
    ``checkpoint_seconds``, and, once it has nothing more to publish, within one."""
    store = setup
    saves: list[Checkpoint] = []
    real_save = store.save_checkpoint

    async def counted(name: str, cp: Checkpoint, **kw: Any) -> None:
        saves.append(cp)
        await real_save(name, cp, **kw)

    monkeypatch.setattr(store, "save_checkpoint", counted)
    relay = make_relay(store, js, namespace, poll_seconds=30.0, checkpoint_seconds=0.6)
    task = asyncio.create_task(relay.run())
    loop = asyncio.get_running_loop()
    try:
        started = loop.time()
        for n in range(1, 21):  # twenty commits, each its own round
            await store.append("lazy", n - 1, [noted(n)])

            async def published(n: int = n) -> bool:
                return relay.published == n

            await _until(published)
        rounds_took = loop.time() - started
        last = (await store.read_all(Checkpoint()))[-1].checkpoint

        async def saved() -> bool:
            return await store.get_checkpoint("relay") == last

        await _until(saved, within=5.0)
    finally:
        await cancel_until_done(task)
    assert relay.published == 20
    # Fails when every round saves (20 saves): at most one per period, and the last.
    assert len(saves) <= rounds_took / 0.6 + 2, (len(saves), rounds_took)
    assert saves[-1] == last and saves == sorted(saves)


async def test_a_relay_stopped_saves_where_it_got_to(
    setup: EventStore, js: JetStreamContext, namespace: str
) -> None:
    store = setup
    relay = make_relay(store, js, namespace, poll_seconds=30.0, checkpoint_seconds=60.0)
    task = asyncio.create_task(relay.run())
    try:

        async def started() -> bool:
            return relay.acked == Checkpoint() and relay._saved_at is not None

        await _until(started)
        for n in range(1, 4):
            await store.append("stop", n - 1, [noted(n)])

        async def published() -> bool:
            return relay.published == 3

        await _until(published)
        assert await store.get_checkpoint("relay") == Checkpoint()  # not due for a minute
    finally:
        await cancel_until_done(task)
    last = (await store.read_all(Checkpoint()))[-1].checkpoint
    assert relay.acked == last
    assert await store.get_checkpoint("relay") == last  # saved as it stopped


async def test_after_a_failed_round_the_relay_goes_on_from_what_was_acked_not_saved(
    setup: EventStore, js: JetStreamContext, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The position acked and not yet saved is where a retry starts (the saved one is up
    to a period older): the events between are not checked against the stream again."""
    store = setup
    events = await _one_stream(store, 6)
    relay = make_relay(store, js, namespace, poll_seconds=30.0, checkpoint_seconds=60.0)
    cp, sent = await relay.publish_batch(Checkpoint())  # the first save is made at once
    assert sent == 6 and await store.get_checkpoint("relay") == events[-1].checkpoint
    more = await store.append("s", 6, [noted(n) for n in range(7, 10)])
    cp, sent = await relay.publish_batch(cp)
    assert sent == 3 and relay.acked == more[-1].checkpoint
    assert await store.get_checkpoint("relay") == events[-1].checkpoint  # not due yet
    fetched: list[int] = []
    real_get = relay.js.get_msg

    async def counting_get(*args: Any, **kw: Any) -> Any:
        fetched.append(kw.get("seq") or 0)
        return await real_get(*args, **kw)

    monkeypatch.setattr(relay.js, "get_msg", counting_get)
    assert await relay._start_from() == more[-1].checkpoint
    assert len(fetched) == 1  # the stream's last message only, nothing to check before it
    assert await store.get_checkpoint("relay") == more[-1].checkpoint
