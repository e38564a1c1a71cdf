"""A notification's delivery record, told as stories: given events, when command, then events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.notify.domain.delivery import (
    ChannelSettled,
    Command,
    DeliveryEvent,
    DeliveryRecord,
    InvalidAttempt,
    NotDeadLettered,
    NotOnChannel,
    NotQueued,
    QueueNotification,
    RecordAttempt,
    RequestRedelivery,
    decide,
    evolve,
    fold,
    record_round,
)
from shared.events import registry
from shared.events.notify import (
    Channel,
    DeliveryAttempted,
    ErrorKind,
    NotificationDelivered,
    NotificationFailed,
    NotificationQueued,
    NotificationRedeliveryRequested,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
NID = "0190f5c3-9c4d-7e3f-9a01-2b3c4d5e6f70"
QUEUE = QueueNotification(
    notification_id=NID,
    referral_id="0190f5c3-8b3c-7d2e-8f90-1a2b3c3d4e60",
    case_id="0190f5c3-7a2b-7c1d-9e8f-0a1b2c3d4e5f",
    recipient_kind="provider",
    recipient_id="women-and-society-shelter-buston",
    channels=("nats", "webhook"),
    template="new_referral",
    language="tg",
    notification={"specversion": "1.0", "id": NID, "data": {"needs": ["shelter"]}},
)


def attempt(
    channel: Channel = "webhook",
    status: int | None = None,
    error: ErrorKind | None = None,
    max_attempts: int = 3,
) -> RecordAttempt:
    return RecordAttempt(NID, channel, 12.5, max_attempts, status_code=status, error_kind=error)


def run(history: list[DeliveryEvent], command: Command) -> list[DeliveryEvent]:
    return decide(fold(history), command, NOW)


def play(*commands: Command) -> list[DeliveryEvent]:
    """Decide each command on the events so far; all the events, in order."""
    history: list[DeliveryEvent] = []
    for command in commands:
        history += run(history, command)
    return history


def test_queueing_records_the_notification_once_even_when_asked_twice() -> None:
    [queued] = run([], QUEUE)
    assert isinstance(queued, NotificationQueued)
    assert queued.channels == ("nats", "webhook")
    assert run([queued], QUEUE) == []
    assert fold([queued]).status == "queued"


def test_a_jetstream_ack_delivers_the_nats_channel() -> None:
    history = play(QUEUE)
    events = run(history, attempt("nats"))
    assert events == [
        DeliveryAttempted(
            notification_id=NID, channel="nats", attempt=1, latency_ms=12.5, succeeded=True
        ),
        NotificationDelivered(notification_id=NID, channel="nats", attempt=1),
    ]


def test_a_receiver_failing_twice_then_succeeding_gets_three_attempts_and_one_delivery() -> None:
    history = play(
        QUEUE, attempt(status=503), attempt(error="timeout"), attempt(status=200), attempt("nats")
    )
    webhook = [e for e in history if getattr(e, "channel", None) == "webhook"]
    assert [type(e).__name__ for e in webhook] == [
        "DeliveryAttempted",
        "DeliveryAttempted",
        "DeliveryAttempted",
        "NotificationDelivered",
    ]
    assert [e.attempt for e in webhook if isinstance(e, DeliveryAttempted)] == [1, 2, 3]
    assert fold(history).status == "delivered"


def test_after_the_last_attempt_the_channel_is_dead_lettered() -> None:
    history = play(QUEUE, attempt("nats"), attempt(status=500), attempt(error="connection_refused"))
    events = run(history, attempt(status=502))
    assert events[-1] == NotificationFailed(
        notification_id=NID,
        channel="webhook",
        reason="attempts_exhausted",
        attempts=3,
        last_status_code=502,
    )
    record = fold(history + events)
    assert record.status == "failed" and record.dead_lettered
    assert not record.needs_delivery("webhook")


def test_a_refusal_is_not_retried() -> None:
    events = run(play(QUEUE), attempt(status=410))
    assert isinstance(events[-1], NotificationFailed)
    assert events[-1].reason == "rejected"
    assert events[-1].attempts == 1


def test_a_retryable_failure_before_the_last_attempt_only_records_the_attempt() -> None:
    [only] = run(play(QUEUE), attempt(status=429))
    assert isinstance(only, DeliveryAttempted) and not only.succeeded


def test_redelivery_starts_a_new_round_and_attempt_numbers_keep_counting() -> None:
    dead = play(QUEUE, attempt("nats"), attempt(status=404))

    [requested] = run(dead, RequestRedelivery(NID, "admin:operator-1"))
    assert requested == NotificationRedeliveryRequested(
        notification_id=NID, requested_by="admin:operator-1", channels=("webhook",)
    )
    after = [*dead, requested]
    assert fold(after).status == "queued" and fold(after).needs_delivery("webhook")

    events = run(after, attempt(status=204))
    tried = events[0]
    assert isinstance(tried, DeliveryAttempted) and tried.attempt == 2
    assert fold(after + events).status == "delivered"


def test_a_new_round_allows_max_attempts_again() -> None:
    failed = play(QUEUE, attempt(status=500, max_attempts=2), attempt(status=500, max_attempts=2))
    history = failed + run(failed, RequestRedelivery(NID, "admin:op"))
    first = run(history, attempt(status=500, max_attempts=2))
    assert [type(e) for e in first] == [DeliveryAttempted]  # not given up after one try
    second = run(history + first, attempt(status=500, max_attempts=2))
    assert isinstance(second[-1], NotificationFailed) and second[-1].attempts == 4


def test_one_channel_failing_dead_letters_the_notification_while_the_other_is_delivered() -> None:
    record = fold(play(QUEUE, attempt("nats"), attempt(status=401)))
    assert record.channels["nats"].status == "delivered"
    assert record.channels["webhook"].status == "failed"
    assert record.status == "failed"


@pytest.mark.parametrize(
    ("history", "command", "error"),
    [
        ([], attempt("nats"), NotQueued),
        ([], RequestRedelivery(NID, "admin:op"), NotQueued),
        ([QUEUE], RequestRedelivery(NID, "admin:op"), NotDeadLettered),
        ([QUEUE, attempt("nats")], attempt("nats"), ChannelSettled),
        ([QUEUE, attempt(status=400)], attempt(status=200), ChannelSettled),
        ([QUEUE], attempt("webhook", max_attempts=0, status=200), InvalidAttempt),
        ([QUEUE], attempt("webhook"), InvalidAttempt),  # neither a status nor an error
    ],
)
def test_commands_that_do_not_fit_change_nothing(
    history: list[Command], command: Command, error: type[Exception]
) -> None:
    events = play(*history)
    with pytest.raises(error):
        decide(fold(events), command, NOW)


def test_an_attempt_on_a_channel_the_notification_does_not_use_is_refused() -> None:
    nats_only = QueueNotification(**{**QUEUE.__dict__, "channels": ("nats",)})
    with pytest.raises(NotOnChannel):
        decide(fold(play(nats_only)), attempt("webhook", status=200), NOW)


def test_events_are_registered_and_read_back_from_their_cloudevents_type() -> None:
    redelivery = NotificationRedeliveryRequested(
        notification_id=NID, requested_by="admin:op", channels=("webhook",)
    )
    for event in [*play(QUEUE, attempt("nats"), attempt(status=404)), redelivery]:
        assert type(event).type_name().startswith("org.safepath.notify.")
        assert registry.load(type(event).type_name(), event.model_dump(mode="json")) == event


def test_an_attempt_cannot_claim_both_a_status_and_a_transport_error() -> None:
    with pytest.raises(ValueError):
        DeliveryAttempted(
            notification_id=NID,
            channel="webhook",
            attempt=1,
            status_code=500,
            error_kind="timeout",
            latency_ms=1.0,
            succeeded=False,
        )


def test_evolve_starts_from_nothing() -> None:
    assert DeliveryRecord().status == "new"
    [queued] = run([], QUEUE)
    assert evolve(DeliveryRecord(), queued).recipient_id == "women-and-society-shelter-buston"


def test_a_round_records_every_channel_on_one_state() -> None:
    history = play(QUEUE)
    events, after = record_round(fold(history), [attempt("nats"), attempt(status=200)], NOW)
    assert [(type(e).__name__, getattr(e, "channel", None)) for e in events] == [
        ("DeliveryAttempted", "nats"),
        ("NotificationDelivered", "nats"),
        ("DeliveryAttempted", "webhook"),
        ("NotificationDelivered", "webhook"),
    ]
    assert after == fold(history + events)
    assert after.status == "delivered"


def test_a_round_drops_the_outcome_of_a_channel_another_round_settled() -> None:
    # Another round recorded the NATS delivery after this round read the record.
    history = play(QUEUE, attempt("nats"))
    events, after = record_round(fold(history), [attempt("nats"), attempt(status=503)], NOW)
    assert events == run(history, attempt(status=503))
    assert after.channels["nats"].attempts == 1
    assert after.status == "queued"


def test_a_round_on_a_settled_record_records_nothing() -> None:
    history = play(QUEUE, attempt("nats"), attempt(status=200))
    assert record_round(fold(history), [attempt("nats"), attempt(status=200)], NOW) == (
        [],
        fold(history),
    )
