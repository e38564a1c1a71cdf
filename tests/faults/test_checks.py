"""The replica and nemesis checks (``tests/faults/checks.py``) on made-up streams and inbox
rows: they must see a copy, a gap and a reordering on a stream, and an event applied after
a newer one of its stream."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from nats.js import JetStreamContext

from tests.e2e.harness import System
from tests.faults.checks import flow_events, order_violations, stream_checks
from tests.faults.load import Ledger, Opened, StreamTail, event_name


class _Names:
    namespace = "x"

    def stream(self, svc: str) -> str:
        return f"X_{svc.upper()}"


def _ce(subject: str, version: int, name: str = "CaseOpened") -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": f"org.safepath.case.{name}.v1",
        "subject": subject,
        "streamversion": version,
        "data": {},
    }


def _ledger(case: list[dict[str, Any]], *, copy: int | None = None) -> Ledger:
    """The case stream holds ``case`` in that order (``copy``: that one twice more)."""
    ledger = Ledger(cast(System, _Names()), cast(JetStreamContext, None))
    for key, stream in ledger.names.items():
        ledger.tails[key] = StreamTail(cast(JetStreamContext, None), stream, 1)
    tail = ledger.tails["case"]
    messages = list(case) + ([case[copy]] if copy is not None else [])
    for seq, ce in enumerate(messages, start=1):
        tail.seqs[ce["id"]].append(seq)
        tail.msg_ids[ce["id"]] += 1
        tail.events.setdefault(ce["id"], ("x.case", ce))
    return ledger


def test_a_clean_stream_passes() -> None:
    ledger = _ledger([_ce("c1", 1), _ce("c2", 1), _ce("c1", 2), _ce("c1", 3)])
    checks = stream_checks(ledger, flow_events(ledger, [Opened("c1", "q1", [])]))
    assert checks.failures() == {}


def test_a_copy_a_gap_and_a_reordering_on_the_stream_are_seen() -> None:
    events = [_ce("c1", 1), _ce("c1", 3), _ce("c2", 2), _ce("c2", 1)]
    ledger = _ledger(events, copy=0)
    opened = [Opened("c1", "q1", []), Opened("c2", "q2", [])]
    checks = stream_checks(ledger, flow_events(ledger, opened))
    assert checks.stream_copies == [f"case: event {events[0]['id']} at seqs [1, 5]"]
    assert checks.stream_gaps == ["case stream c1: versions [1, 3]"]
    assert len(checks.stream_order) == 1 and "stream c2: versions [2, 1]" in checks.stream_order[0]
    assert (checks.doubled, checks.lost, checks.order_violations) == (1, 1, 1)


def test_other_cases_are_not_checked() -> None:
    ledger = _ledger([_ce("c9", 2), _ce("c9", 1)])
    checks = stream_checks(ledger, flow_events(ledger, [Opened("c1", "q1", [])]))
    assert checks.failures() == {}


def test_an_event_applied_after_a_newer_one_of_its_stream_is_seen() -> None:
    t = datetime(2026, 1, 1, tzinfo=UTC)
    key = ("referral/referral-case-events", "case", "c1")
    # Versions 1 and 3 applied in order; version 2, redelivered late, applied last. Its
    # transaction began before version 3's (a paused replica): the transaction ids say so.
    applied = {key: [(1, 100, t), (2, 107, t + timedelta(seconds=1)), (3, 105, t)]}
    found = order_violations(applied)
    assert len(found) == 1 and "version 2 applied after version 3" in found[0]
    in_order = {key: [(1, 100, t), (2, 101, t + timedelta(seconds=2)), (3, 102, t)]}
    assert order_violations(in_order) == []


# -- the verdict on a webhook notification given up on ------------------------------------------


def _event(source: str, name: str, subject: str, **data: Any) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "type": f"org.safepath.{source}.{name}.v1",
        "subject": subject,
        "data": data,
    }


class _GivenUp:
    """One case, routed to a provider with a webhook: its notification delivered on NATS,
    given up on by webhook (``NotificationFailed``), and one coordinator alerted."""

    def __init__(self) -> None:
        self.ledger = _ledger([_ce("c1", 1)])
        self.opened = [Opened("c1", "q1", ["shelter"])]
        self.nid = "n1"
        self.add("referral", "x.referral", _event(
            "referral", "ReferralRouted", "r1", case_id="c1", request_id="q1",
            need="shelter", attempt=1, referral_id="r1", provider_id="buston",
        ))  # fmt: skip
        self.tell("x.provider.buston.notifications", "new_referral", self.nid)
        self.notify("NotificationDelivered", channel="nats")
        self.notify("NotificationFailed", channel="webhook", reason="attempts_exhausted")
        self.tell("x.coordinator.c9.notifications", "provider_unreachable", "n2")

    def add(self, key: str, subject: str, ce: dict[str, Any]) -> None:
        tail = self.ledger.tails[key]
        tail.seqs[ce["id"]].append(len(tail.events) + 1)
        tail.msg_ids[ce["id"]] += 1
        tail.events[ce["id"]] = (subject, ce)

    def tell(self, subject: str, kind: str, nid: str) -> None:
        ce = {**_event("notify", "Notification", "r1", kind=kind), "id": nid}
        self.add("notifications", subject, ce)

    def notify(self, name: str, **data: Any) -> None:
        self.add("notify", "x.notify", _event("notify", name, self.nid, notification_id=self.nid,
                                              case_id="c1", **data))  # fmt: skip

    def verdict(self, at_fault: bool | None) -> Any:
        judge = None if at_fault is None else (lambda nid: at_fault)
        return self.ledger.verdict(
            self.opened, webhook_providers=frozenset({"buston"}), receiver_at_fault=judge
        )


def test_a_webhook_given_up_on_is_lost_unless_the_receiver_was_late_every_time() -> None:
    given_up = _GivenUp()
    for judge in (None, False):  # no judge (the fault suite), or a POST answered in time
        v = given_up.verdict(judge)
        assert any(x.startswith("notification failed") for x in v.lost), v.lost
        assert "notification n1 never delivered by webhook" in v.lost
    v = given_up.verdict(True)
    assert (v.lost, v.duplicated, v.dead_lettered, v.alerts) == ([], [], ["n1"], 1)


def test_a_redelivered_notification_must_then_arrive_once() -> None:
    given_up = _GivenUp()
    given_up.notify("NotificationRedeliveryRequested", channels=["webhook"])
    v = given_up.verdict(True)
    assert v.lost == ["notification n1 never delivered by webhook"] and v.dead_lettered == []
    given_up.notify("NotificationDelivered", channel="webhook")
    assert given_up.verdict(True).clean
    given_up.notify("NotificationDelivered", channel="webhook")
    assert given_up.verdict(True).duplicated == ["notification n1 delivered 2 times by webhook"]


def test_an_alert_without_a_give_up_or_twice_for_one_is_doubled() -> None:
    given_up = _GivenUp()
    given_up.tell("x.coordinator.c9.notifications", "provider_unreachable", "n3")
    assert len(given_up.verdict(True).duplicated) == 1
    clean = _GivenUp()
    clean.ledger.tails["notify"].events = {
        i: (s, ce)
        for i, (s, ce) in clean.ledger.tails["notify"].events.items()
        if event_name(ce) != "NotificationFailed"
    }
    clean.notify("NotificationDelivered", channel="webhook")
    v = clean.verdict(True)
    assert v.lost == [] and v.duplicated == [
        "1 provider_unreachable alerts on x.coordinator.c9.notifications for referral r1,"
        " given up on 0 time(s)"
    ]
