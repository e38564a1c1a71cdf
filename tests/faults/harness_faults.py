"""Fault-injection helpers that work through NATS only (process faults are on ``System``).

- ``stream_messages`` / ``republish``: read old messages back from a stream and publish
  them again, as duplicates or out of order. The CloudEvent (and so its ``id``, which
  the consumers' inbox deduplicates on) is unchanged. By default each copy gets a fresh
  ``Nats-Msg-Id``: with its original one, JetStream itself drops the copy inside its
  duplicate window (10 minutes) and no consumer ever sees it (``keep_msg_id=True``
  tests exactly that; the ``PubAck.duplicate`` flag says so).
- ``poison_messages`` / ``publish_malformed``: for every subject a service consumes, one
  message that is not JSON, one that is JSON but not a CloudEvent, one of unknown type
  and one that violates its event's schema.
- ``dead_letters`` / ``wait_for_dead_letters``: read back ``<NAMESPACE>_DEADLETTER`` with
  the reason and the original subject of each dead letter.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import NotFoundError

from shared.envelope import dataschema_for
from shared.events.base import Event
from shared.events.case import ReferralRequested
from shared.events.notify import NotificationQueued, NotificationRedeliveryRequested
from shared.events.referral import ReferralRouted
from shared.signatures import EventSigner, new_signing_key

REASON_HEADER = "Safepath-Dead-Letter-Reason"
ORIGIN_HEADER = "Safepath-Original-Subject"
MSG_ID = "Nats-Msg-Id"

# Every consumer (durable name) and the service whose stream it reads; each of them
# dead-letters what it cannot parse, to ``<namespace>.deadletter.<consumer>``.
CONSUMERS: dict[str, str] = {
    "referral-case-events": "case",
    "notify-cases": "case",
    "notify-referrals": "referral",
    "case-referral-events": "referral",
    "case-notify-events": "notify",
    # notify's delivery workers on its own stream, each on one event name's subjects only
    "notify-deliver-NotificationQueued": "notify",
    "notify-deliver-NotificationRedeliveryRequested": "notify",
}
# Consumers that ack malformed messages with a log line instead of dead-lettering them.
NOT_DEAD_LETTERING: dict[str, str] = {}
# Consumers that see only the subjects ending in one event name (default: the whole stream).
SUBJECT_SUFFIX: dict[str, str] = {
    "notify-deliver-NotificationQueued": ".NotificationQueued",
    "notify-deliver-NotificationRedeliveryRequested": ".NotificationRedeliveryRequested",
}
# Event types a consumer receives on its subjects but does not read: an authentic event of
# such a type only moves the consumer's stream position (its data is not parsed), so its
# schema violation is no dead letter of that consumer's (shared/consumer.py).
NOT_READ: dict[str, frozenset[str]] = {
    "case-notify-events": frozenset({"NotificationRedeliveryRequested"}),
}
# A registered event per consumed stream, for schema violations that pass the type lookup.
SCHEMA_SAMPLE: dict[str, tuple[type[Event], ...]] = {
    "case": (ReferralRequested,),
    "referral": (ReferralRouted,),
    "notify": (NotificationQueued, NotificationRedeliveryRequested),
}


def consumed_services() -> list[str]:
    """Services whose streams some inbox consumer reads (``case``, ``referral``)."""
    return sorted(set(CONSUMERS.values()))


def consumers_of(service: str, subject: str | None = None) -> list[str]:
    """Consumers of ``service``'s stream (that receive ``subject``, when given)."""
    return sorted(
        name
        for name, source in CONSUMERS.items()
        if source == service and (subject is None or subject.endswith(SUBJECT_SUFFIX.get(name, "")))
    )


# -- reading and republishing -------------------------------------------------------


@dataclass(frozen=True)
class StoredMessage:
    stream: str
    seq: int
    subject: str
    data: bytes
    headers: dict[str, str]

    @property
    def msg_id(self) -> str | None:
        return self.headers.get(MSG_ID)

    @property
    def event(self) -> dict[str, object]:
        """The CloudEvent as JSON (raises ``ValueError`` if it is not JSON)."""
        doc = json.loads(self.data)
        if not isinstance(doc, dict):
            raise ValueError("not a JSON object")
        return doc


async def stream_messages(
    js: JetStreamContext,
    stream: str,
    *,
    first_seq: int = 1,
    last_seq: int | None = None,
    subject_contains: str | None = None,
) -> list[StoredMessage]:
    """The messages of ``stream`` from ``first_seq`` to ``last_seq`` (default: the last)."""
    if last_seq is None:
        last_seq = int((await js.stream_info(stream)).state.last_seq or 0)
    out = []
    for seq in range(max(first_seq, 1), last_seq + 1):
        try:
            msg = await js.get_msg(stream, seq=seq)
        except NotFoundError:
            continue
        if subject_contains is not None and subject_contains not in (msg.subject or ""):
            continue
        out.append(
            StoredMessage(
                stream,
                seq,
                msg.subject or "",
                msg.data or b"",
                {str(k): str(v) for k, v in (msg.headers or {}).items()},
            )
        )
    return out


async def republish(
    js: JetStreamContext,
    messages: Sequence[StoredMessage],
    *,
    keep_msg_id: bool = False,
    order: str = "same",
    seed: int | None = None,
) -> list[PubAck]:
    """Publish ``messages`` again on their subjects with their headers and bytes.

    ``order``: ``"same"``, ``"reverse"`` or ``"shuffle"`` (with ``seed``) for out-of-order
    delivery. ``keep_msg_id=False`` gives each copy a fresh UUID ``Nats-Msg-Id`` so that
    JetStream stores it and the consumers receive a true duplicate (same CloudEvent id).
    A fresh id is a UUID on purpose: the relay reads the id of its stream's last message
    as an event id when it restarts.
    """
    batch = list(messages)
    if order == "reverse":
        batch.reverse()
    elif order == "shuffle":
        random.Random(seed).shuffle(batch)
    elif order != "same":
        raise ValueError(f"order must be same, reverse or shuffle, not {order!r}")
    acks = []
    for m in batch:
        # A copy of the event, not of its publisher's expectation of the stream (the
        # relay's Nats-Expected-Last-Msg-Id would refuse it).
        headers = {k: v for k, v in m.headers.items() if not k.startswith("Nats-Expected")}
        if not keep_msg_id:
            headers[MSG_ID] = str(uuid.uuid4())
        acks.append(await js.publish(m.subject, m.data, headers=headers))
    return acks


# -- malformed messages -------------------------------------------------------------


@dataclass(frozen=True)
class Poison:
    kind: str  # not_json | not_cloudevent | forged | unknown_type | schema_violation
    service: str  # whose stream it is published on
    subject: str
    data: bytes
    reason_prefix: str  # how the dead-letter reason starts (see shared.consumer)


def _envelope(
    service: str, type_name: str, stream_id: str, data: dict[str, object], key: str | None
) -> bytes:
    """The CloudEvent, signed with ``key`` (the service's own, or a stranger's)."""
    doc: dict[str, object] = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": f"safepath/{service}",
        "type": type_name,
        "subject": stream_id,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "dataschema": dataschema_for(type_name),
        "streamversion": 1,
        "correlationid": str(uuid.uuid4()),
        "actor": "service:fault-injector",
        "data": data,
    }
    if key is not None:
        doc = EventSigner(key).sign(doc)
    return json.dumps(doc).encode()


def poison_messages(namespace: str, service: str, signing_key: str) -> list[Poison]:
    """The kinds of malformed message for ``service``'s stream, on the subjects of each
    event its consumers read (one event for the inbox streams, two for notify's). What is
    not signed by the service is refused as not authentic before it is even parsed; the
    unknown type and the schema violation carry the service's real signature, so they
    test the parsing that comes after."""
    out = []
    stranger = new_signing_key()
    for sample in SCHEMA_SAMPLE[service]:
        stream_id = f"poison-{uuid.uuid4().hex[:12]}"
        name = sample.__name__
        subject = f"{namespace}.{service}.{stream_id}.{name}"
        unknown = f"org.safepath.{service}.NoSuchEvent.v1"
        # notify's delivery workers see only their event's subjects: the unknown type
        # travels on one of those, the inbox consumers' on a subject of its own name.
        unknown_subject = (
            subject if service == "notify" else subject.rsplit(".", 1)[0] + ".NoSuchEvent"
        )
        out += [
            Poison("not_json", service, subject, b"\xff{not json", "not authentic: not JSON"),
            Poison(
                "not_cloudevent",
                service,
                subject,
                json.dumps({"hello": "world"}).encode(),
                "not authentic: event source is not a Safepath service",
            ),
            Poison(
                "forged",
                service,
                subject,
                _envelope(service, sample.type_name(), stream_id, {}, stranger),
                "not authentic: signature does not verify",
            ),
            Poison(
                "unknown_type",
                service,
                unknown_subject,
                _envelope(service, unknown, stream_id, {}, signing_key),
                # On notify's delivery subjects the type's name cannot match the subject
                # (a relay never publishes so): refused at the subject check.
                "not authentic: event type or stream id does not match its subject"
                if service == "notify"
                else "unknown event type",
            ),
            Poison(
                "schema_violation",
                service,
                subject,
                _envelope(service, sample.type_name(), stream_id, {"not_a_field": 1}, signing_key),
                f"{sample.type_name()} violates its schema",
            ),
        ]
    return out


async def publish_malformed(
    js: JetStreamContext,
    namespace: str,
    signing_keys: Mapping[str, str],
    services: Iterable[str] | None = None,
) -> list[Poison]:
    """Publish every kind of poison on the stream of each consumed service
    (``signing_keys``: each service's event key, to sign the poisons that must parse)."""
    sent = []
    for service in services or consumed_services():
        for p in poison_messages(namespace, service, signing_keys[service]):
            await js.publish(p.subject, p.data, headers={MSG_ID: str(uuid.uuid4())})
            sent.append(p)
    return sent


def expected_dead_letters(poisons: Iterable[Poison]) -> Counter[tuple[str, str]]:
    """``(consumer, original subject)`` → how many dead letters the poisons must cause."""
    expected: Counter[tuple[str, str]] = Counter()
    for p in poisons:
        for consumer in consumers_of(p.service, p.subject):
            event_name = p.subject.rsplit(".", 1)[-1]
            if p.kind == "schema_violation" and event_name in NOT_READ.get(consumer, ()):
                continue
            expected[(consumer, p.subject)] += 1
    return expected


# -- dead letters ---------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    consumer: str
    reason: str
    original_subject: str
    data: bytes


def dead_letter_stream(namespace: str) -> str:
    return f"{namespace}_deadletter".upper()


async def dead_letters(js: JetStreamContext, namespace: str) -> list[DeadLetter]:
    """Everything in ``<NAMESPACE>_DEADLETTER``, oldest first."""
    prefix = f"{namespace}.deadletter."
    try:
        stored = await stream_messages(js, dead_letter_stream(namespace))
    except NotFoundError:
        return []
    return [
        DeadLetter(
            m.seq,
            m.subject.removeprefix(prefix),
            m.headers.get(REASON_HEADER, ""),
            m.headers.get(ORIGIN_HEADER, ""),
            m.data,
        )
        for m in stored
    ]


async def wait_for_dead_letters(
    js: JetStreamContext,
    namespace: str,
    count: int,
    within: float = 30.0,
    subjects: Collection[str] | None = None,
) -> list[DeadLetter]:
    """Poll until at least ``count`` dead letters (of ``subjects``, if given) are stored."""
    deadline = time.monotonic() + within
    found: list[DeadLetter] = []
    while time.monotonic() < deadline:
        found = await dead_letters(js, namespace)
        if subjects is not None:
            found = [d for d in found if d.original_subject in subjects]
        if len(found) >= count:
            return found
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{len(found)} dead letters after {within}s, expected {count}")
