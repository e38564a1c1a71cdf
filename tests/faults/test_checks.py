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
from tests.faults.load import Ledger, Opened, StreamTail


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
