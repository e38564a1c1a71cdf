"""Transfers the receiving side accepts (issue 13 item 7): pure rules."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.case.domain import fold
from services.case.domain.commands import CloseCase
from services.case.domain.errors import InvalidTransition
from services.case.domain.transfer import (
    AcceptTransfer,
    CancelTransfer,
    ExpireTransfer,
    NoSuchPendingTransfer,
    RefuseTransfer,
    RequestTransfer,
    TransferExpired,
    TransferPending,
)
from shared.events.base import Event
from shared.events.case import CaseTransferred
from shared.events.case_transfer import (
    CaseTransferAccepted,
    CaseTransferCancelled,
    CaseTransferExpired,
    CaseTransferRefused,
    CaseTransferRequested,
)

from .builders import NOW, opened, when

TO_DUSHANBE = RequestTransfer(transfer_id="t1", to_office="dushanbe-nrm", requested_by="cw-dilnoza")


def requested() -> list[Event]:
    history: list[Event] = [opened()]
    return history + when(history, TO_DUSHANBE)


def test_a_request_moves_nothing_until_it_is_accepted() -> None:
    history = requested()
    (event,) = history[1:]
    assert isinstance(event, CaseTransferRequested)
    case = fold(history)
    assert (case.caseworker, case.office) == ("cw-dilnoza", "khujand-nrm")
    assert case.pending_transfer is not None


def test_an_office_wide_request_goes_to_whoever_of_that_office_accepts() -> None:
    history = requested()
    events = when(history, AcceptTransfer(transfer_id="t1", accepted_by="cw-farrukh"))

    assert [type(e) for e in events] == [CaseTransferAccepted, CaseTransferred]
    case = fold(history + events)
    assert (case.caseworker, case.office) == ("cw-farrukh", "dushanbe-nrm")
    assert case.pending_transfer is None


def test_a_named_caseworker_gets_the_case_whoever_accepts() -> None:
    history: list[Event] = [opened()]
    named = TO_DUSHANBE.model_copy(update={"to_caseworker": "cw-named"})
    history += when(history, named)
    history += when(history, AcceptTransfer(transfer_id="t1", accepted_by="sup-dushanbe"))
    assert fold(history).caseworker == "cw-named"


@pytest.mark.parametrize(
    ("answer", "recorded"),
    [
        (
            RefuseTransfer(transfer_id="t1", refused_by="cw-f", reason_code="no_capacity"),
            CaseTransferRefused,
        ),
        (CancelTransfer(transfer_id="t1", cancelled_by="cw-dilnoza"), CaseTransferCancelled),
    ],
)
def test_a_refusal_or_cancellation_leaves_the_case_where_it_was(
    answer: RefuseTransfer | CancelTransfer, recorded: type[Event]
) -> None:
    history = requested()
    events = when(history, answer)
    assert [type(e) for e in events] == [recorded]
    case = fold(history + events)
    assert (case.office, case.pending_transfer) == ("khujand-nrm", None)
    with pytest.raises(NoSuchPendingTransfer):
        when(history + events, AcceptTransfer(transfer_id="t1", accepted_by="cw-farrukh"))


def test_one_request_at_a_time_and_answers_name_the_pending_one() -> None:
    history = requested()
    with pytest.raises(TransferPending):
        when(history, TO_DUSHANBE.model_copy(update={"transfer_id": "t2"}))
    with pytest.raises(NoSuchPendingTransfer):
        when(history, AcceptTransfer(transfer_id="t2", accepted_by="cw-farrukh"))
    with pytest.raises(NoSuchPendingTransfer):
        when([opened()], AcceptTransfer(transfer_id="t1", accepted_by="cw-farrukh"))


def test_a_request_must_move_the_case() -> None:
    for same in (
        RequestTransfer(transfer_id="t1", requested_by="cw-dilnoza"),
        RequestTransfer(transfer_id="t1", to_office="khujand-nrm", requested_by="cw-dilnoza"),
    ):
        with pytest.raises(InvalidTransition):
            when([opened()], same)


def test_only_the_accepted_transfer_moves_the_scope_other_services_keep() -> None:
    """Referral and notify follow ``CaseTransferred`` (shared/case_scope.py), which only an
    acceptance records: a pending, refused or cancelled request moves nothing there."""
    from shared.case_scope import SCOPE_EVENT_TYPES

    assert CaseTransferred.name() in SCOPE_EVENT_TYPES
    for pending in (
        CaseTransferRequested,
        CaseTransferRefused,
        CaseTransferCancelled,
        CaseTransferExpired,
    ):
        assert pending.name() not in SCOPE_EVENT_TYPES


# -- expiry: a request nobody answers lapses; the sender keeps the case --------------------

WEEK = timedelta(days=7)
EXPIRING = TO_DUSHANBE.model_copy(update={"expires_after": WEEK})


def expiring() -> list[Event]:
    history: list[Event] = [opened()]
    return history + when(history, EXPIRING)


def test_the_request_fixes_its_expiry_from_the_setting() -> None:
    (event,) = expiring()[1:]
    assert isinstance(event, CaseTransferRequested)
    assert event.expires_at == NOW + WEEK


def test_the_timer_expires_a_request_once_its_time_has_passed_and_only_once() -> None:
    history = expiring()
    assert when(history, ExpireTransfer(), NOW + WEEK - timedelta(seconds=1)) == []
    events = when(history, ExpireTransfer(), NOW + WEEK)
    assert events == [CaseTransferExpired(transfer_id="t1", expires_at=NOW + WEEK)]
    case = fold(history + events)
    assert case is not None
    assert (case.caseworker, case.office, case.pending_transfer) == (
        "cw-dilnoza",
        "khujand-nrm",
        None,
    )
    # A late or repeated tick decides nothing new.
    assert when(history + events, ExpireTransfer(), NOW + 3 * WEEK) == []


@pytest.mark.parametrize(
    "answer",
    [
        AcceptTransfer(transfer_id="t1", accepted_by="cw-farrukh"),
        RefuseTransfer(transfer_id="t1", refused_by="cw-farrukh", reason_code="no_capacity"),
    ],
)
def test_an_expired_request_cannot_be_answered_even_before_the_timer_records_it(
    answer: AcceptTransfer | RefuseTransfer,
) -> None:
    history = expiring()
    with pytest.raises(TransferExpired) as raised:
        when(history, answer, NOW + WEEK)
    assert raised.value.code == "transfer_expired"
    assert when(history, answer, NOW + WEEK - timedelta(minutes=1))  # in time: answered
    recorded = history + when(history, ExpireTransfer(), NOW + WEEK)
    with pytest.raises(TransferExpired):
        when(recorded, answer, NOW + WEEK)


def test_the_sender_may_still_cancel_a_lapsed_request_the_timer_has_not_reached() -> None:
    events = when(
        expiring(), CancelTransfer(transfer_id="t1", cancelled_by="cw-dilnoza"), NOW + WEEK
    )
    assert [type(e) for e in events] == [CaseTransferCancelled]


def test_a_request_without_an_expiry_never_lapses() -> None:
    """v1 requests (upcast with ``expires_at`` None), and a domain call without a setting."""
    assert when(requested(), ExpireTransfer(), NOW + 100 * WEEK) == []
    assert when([opened()], ExpireTransfer(), NOW) == []


def test_a_request_still_pending_on_a_closed_case_lapses_too() -> None:
    history = expiring()
    history += when(history, CloseCase(reason="services_completed"))
    events = when(history, ExpireTransfer(), NOW + WEEK)
    assert [type(e) for e in events] == [CaseTransferExpired]


def test_a_v1_request_reads_with_no_expiry() -> None:
    from shared.events import registry

    event = registry.load(
        "org.safepath.case.CaseTransferRequested.v1",
        {
            "transfer_id": "t1",
            "from_caseworker": "cw-dilnoza",
            "from_office": "khujand-nrm",
            "to_caseworker": None,
            "to_office": "dushanbe-nrm",
            "requested_by": "cw-dilnoza",
        },
    )
    assert isinstance(event, CaseTransferRequested) and event.expires_at is None


def test_a_late_answer_to_a_recorded_expiry_hears_expired_not_no_such_request() -> None:
    history = expiring()
    history += when(history, ExpireTransfer(), NOW + WEEK)
    with pytest.raises(TransferExpired):
        when(history, AcceptTransfer(transfer_id="t1", accepted_by="cw-farrukh"), NOW + WEEK)
    # A new request is its own: the lapsed one's id answers nothing of it.
    history += when(history, EXPIRING.model_copy(update={"transfer_id": "t2"}), NOW + WEEK)
    with pytest.raises(TransferExpired):
        when(history, AcceptTransfer(transfer_id="t1", accepted_by="cw-farrukh"), NOW + WEEK)
    assert when(history, AcceptTransfer(transfer_id="t2", accepted_by="cw-farrukh"), NOW + WEEK)
