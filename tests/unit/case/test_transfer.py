"""Transfers the receiving side accepts (issue 13 item 7): pure rules."""

from __future__ import annotations

import pytest

from services.case.domain import fold
from services.case.domain.errors import InvalidTransition
from services.case.domain.transfer import (
    AcceptTransfer,
    CancelTransfer,
    NoSuchPendingTransfer,
    RefuseTransfer,
    RequestTransfer,
    TransferPending,
)
from shared.events.base import Event
from shared.events.case import CaseTransferred
from shared.events.case_transfer import (
    CaseTransferAccepted,
    CaseTransferCancelled,
    CaseTransferRefused,
    CaseTransferRequested,
)

from .builders import opened, when

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
    for pending in (CaseTransferRequested, CaseTransferRefused, CaseTransferCancelled):
        assert pending.name() not in SCOPE_EVENT_TYPES
