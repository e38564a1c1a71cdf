"""A notification's delivery record: queued → attempted* → delivered | failed → redelivery …

Each channel (NATS, webhook) is tracked on its own, because a provider may take the
NATS message and still have a webhook that is down. A channel is given up on (dead-
lettered) when the receiver refuses for good (4xx other than 408/429) or after
``max_attempts`` tries in one round; an operator's redelivery starts a new round for
the failed channels. Attempt numbers keep counting across rounds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from services.notify.domain.retry import is_success, should_retry
from shared.events.notify import (
    Channel,
    DeliveryAttempted,
    ErrorKind,
    NotificationDelivered,
    NotificationFailed,
    NotificationQueued,
    NotificationRedeliveryRequested,
    RecipientKind,
    TemplateName,
)
from shared.events.vocabulary import Language

DeliveryEvent = (
    NotificationQueued
    | DeliveryAttempted
    | NotificationDelivered
    | NotificationFailed
    | NotificationRedeliveryRequested
)
ChannelStatus = Literal["pending", "delivered", "failed"]


# -- state ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChannelRecord:
    status: ChannelStatus = "pending"
    attempts: int = 0  # every try, across redeliveries
    attempts_this_round: int = 0  # since queued or since the last redelivery
    last_status_code: int | None = None
    last_error_kind: ErrorKind | None = None


@dataclass(frozen=True)
class DeliveryRecord:
    notification_id: str | None = None  # None until queued
    referral_id: str | None = None
    recipient_kind: RecipientKind | None = None
    recipient_id: str | None = None
    channels: Mapping[Channel, ChannelRecord] = field(default_factory=dict)

    @property
    def status(self) -> Literal["new", "queued", "delivered", "failed"]:
        states = {c.status for c in self.channels.values()}
        if self.notification_id is None:
            return "new"
        if "pending" in states:
            return "queued"
        return "failed" if "failed" in states else "delivered"

    @property
    def dead_lettered(self) -> bool:
        return self.status == "failed"

    def needs_delivery(self, channel: Channel) -> bool:
        """Whether a try on ``channel`` is due (False once delivered or given up)."""
        record = self.channels.get(channel)
        return record is not None and record.status == "pending"


# -- commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueNotification:
    notification_id: str
    referral_id: str | None  # None: about a case (NotificationQueued v2)
    case_id: str
    recipient_kind: RecipientKind
    recipient_id: str
    channels: tuple[Channel, ...]
    template: TemplateName
    language: Language
    notification: dict[str, Any]


@dataclass(frozen=True)
class RecordAttempt:
    """The outcome of one try: a status code, a transport error, or (NATS) neither = acked."""

    notification_id: str
    channel: Channel
    latency_ms: float
    max_attempts: int
    status_code: int | None = None
    error_kind: ErrorKind | None = None


@dataclass(frozen=True)
class RequestRedelivery:
    notification_id: str
    requested_by: str


Command = QueueNotification | RecordAttempt | RequestRedelivery


# -- errors --------------------------------------------------------------------------------------


class DeliveryError(Exception):
    """A command that does not fit the record; nothing happened."""


class NotQueued(DeliveryError):
    pass


class NotOnChannel(DeliveryError):
    pass


class ChannelSettled(DeliveryError):
    """The channel was already delivered or given up on: no try is due."""


class NotDeadLettered(DeliveryError):
    pass


class InvalidAttempt(DeliveryError):
    pass


# -- decide --------------------------------------------------------------------------------------


def decide(state: DeliveryRecord, command: Command, now: datetime) -> list[DeliveryEvent]:
    """The events ``command`` causes on ``state``. ``now`` is for rules with deadlines."""
    if isinstance(command, QueueNotification):
        return _queue(state, command)
    if state.notification_id is None:
        raise NotQueued("the notification was never queued")
    if isinstance(command, RecordAttempt):
        return _attempt(state, command)
    return _redeliver(state, command)


def _queue(state: DeliveryRecord, c: QueueNotification) -> list[DeliveryEvent]:
    if state.notification_id is not None:
        return []  # queued already: a redelivered referral event changes nothing
    return [
        NotificationQueued(
            notification_id=c.notification_id,
            referral_id=c.referral_id,
            case_id=c.case_id,
            recipient_kind=c.recipient_kind,
            recipient_id=c.recipient_id,
            channels=c.channels,
            template=c.template,
            language=c.language,
            notification=c.notification,
        )
    ]


def _attempt(state: DeliveryRecord, c: RecordAttempt) -> list[DeliveryEvent]:
    record = state.channels.get(c.channel)
    if record is None:
        raise NotOnChannel(f"the notification is not sent over {c.channel}")
    if record.status != "pending":
        raise ChannelSettled(f"{c.channel} is {record.status}")
    if c.max_attempts < 1:
        raise InvalidAttempt("max_attempts must be at least 1")
    if c.channel == "webhook" and c.status_code is None and c.error_kind is None:
        raise InvalidAttempt("a webhook attempt has a status code or an error kind")
    succeeded = c.error_kind is None and (c.status_code is None or is_success(c.status_code))
    attempt = record.attempts + 1
    nid = c.notification_id
    events: list[DeliveryEvent] = [
        DeliveryAttempted(
            notification_id=nid,
            channel=c.channel,
            attempt=attempt,
            status_code=c.status_code,
            error_kind=c.error_kind,
            latency_ms=c.latency_ms,
            succeeded=succeeded,
        )
    ]
    if succeeded:
        events.append(
            NotificationDelivered(notification_id=nid, channel=c.channel, attempt=attempt)
        )
        return events
    outcome: int | ErrorKind = c.status_code if c.status_code is not None else _error(c)
    if not should_retry(outcome):
        reason: Literal["attempts_exhausted", "rejected"] | None = "rejected"
    elif record.attempts_this_round + 1 >= c.max_attempts:
        reason = "attempts_exhausted"
    else:
        reason = None
    if reason is not None:
        events.append(
            NotificationFailed(
                notification_id=nid,
                channel=c.channel,
                reason=reason,
                attempts=attempt,
                last_status_code=c.status_code,
                last_error_kind=c.error_kind,
            )
        )
    return events


def record_round(
    state: DeliveryRecord, attempts: Sequence[RecordAttempt], now: datetime
) -> tuple[list[DeliveryEvent], DeliveryRecord]:
    """The outcomes of one delivery round (one try per channel), decided in order on
    ``state``: their events, and the record after them.

    An outcome for a channel that is no longer pending is dropped: another round recorded
    it first (it was delivered or given up on), so it is not recorded twice.
    """
    events: list[DeliveryEvent] = []
    for attempt in attempts:
        try:
            decided = decide(state, attempt, now)
        except ChannelSettled:
            continue
        for event in decided:
            state = evolve(state, event)
        events.extend(decided)
    return events, state


def _error(c: RecordAttempt) -> ErrorKind:
    assert c.error_kind is not None  # not succeeded and no status code
    return c.error_kind


def _redeliver(state: DeliveryRecord, c: RequestRedelivery) -> list[DeliveryEvent]:
    failed = tuple(ch for ch, r in state.channels.items() if r.status == "failed")
    if not failed:
        raise NotDeadLettered(f"the notification is {state.status}, not dead-lettered")
    return [
        NotificationRedeliveryRequested(
            notification_id=c.notification_id, requested_by=c.requested_by, channels=failed
        )
    ]


# -- evolve --------------------------------------------------------------------------------------


def evolve(state: DeliveryRecord, event: DeliveryEvent) -> DeliveryRecord:
    if isinstance(event, NotificationQueued):
        return DeliveryRecord(
            notification_id=event.notification_id,
            referral_id=event.referral_id,
            recipient_kind=event.recipient_kind,
            recipient_id=event.recipient_id,
            channels={ch: ChannelRecord() for ch in event.channels},
        )
    channels = dict(state.channels)
    if isinstance(event, DeliveryAttempted):
        r = channels[event.channel]
        channels[event.channel] = replace(
            r,
            attempts=event.attempt,
            attempts_this_round=r.attempts_this_round + 1,
            last_status_code=event.status_code,
            last_error_kind=event.error_kind,
        )
    elif isinstance(event, NotificationDelivered):
        channels[event.channel] = replace(channels[event.channel], status="delivered")
    elif isinstance(event, NotificationFailed):
        channels[event.channel] = replace(channels[event.channel], status="failed")
    else:
        for ch in event.channels:
            channels[ch] = replace(channels[ch], status="pending", attempts_this_round=0)
    return replace(state, channels=channels)


def fold(events: list[DeliveryEvent]) -> DeliveryRecord:
    state = DeliveryRecord()
    for event in events:
        state = evolve(state, event)
    return state
