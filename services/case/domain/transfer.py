"""Transfers that the receiving side accepts (issue 13 item 7; docs/case-domain.md).

- A transfer is a request naming a caseworker, an office or both; at most one is pending.
- Until it is accepted nothing moves: the sending office keeps the case, its scope, its
  referrals and its notifications.
- The receiving side accepts (the ``CaseTransferred`` every service follows comes with
  the acceptance) or refuses with a reason code; the sending side may cancel.
- A request expires after the configured time (the app passes it; ``expires_at`` is fixed
  in the request): from then on it cannot be accepted or refused (``transfer_expired``),
  and the transfer timer's ``ExpireTransfer`` records ``CaseTransferExpired`` once. The
  sending side keeps the case, and may still cancel until the expiry is recorded.
Who counts as the receiving side is the app layer's check (``receives_transfer``): scope
is not the domain's.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict

from services.case.domain.errors import DomainError, InvalidTransition
from services.case.domain.state import Case, PendingTransfer
from shared.events.base import Event
from shared.events.case import CaseTransferred, Identifier, Office, Subject
from shared.events.case_transfer import (
    CaseTransferAccepted,
    CaseTransferCancelled,
    CaseTransferExpired,
    CaseTransferRefused,
    CaseTransferRequested,
    TransferRefusal,
)


class TransferPending(DomainError):
    code = "transfer_pending"

    def __init__(self) -> None:
        super().__init__("a transfer of this case is already waiting for an answer")


class NoSuchPendingTransfer(DomainError):
    code = "transfer_not_pending"

    def __init__(self) -> None:
        super().__init__("no such transfer is waiting for an answer on this case")


class TransferExpired(DomainError):
    code = "transfer_expired"

    def __init__(self) -> None:
        super().__init__("this transfer request has expired: the sending side keeps the case")


class _Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    transfer_id: Identifier


class RequestTransfer(_Command):
    to_caseworker: Subject | None = None
    to_office: Office | None = None
    requested_by: Subject
    # How long the receiving side has to answer (the app's setting); None: no limit.
    expires_after: timedelta | None = None


class AcceptTransfer(_Command):
    accepted_by: Subject


class RefuseTransfer(_Command):
    refused_by: Subject
    reason_code: TransferRefusal


class CancelTransfer(_Command):
    cancelled_by: Subject


class ExpireTransfer(BaseModel):
    """Sent by the transfer timer: expire the pending request if its time has passed."""

    model_config = ConfigDict(frozen=True, extra="forbid")


TransferCommand = (
    RequestTransfer | AcceptTransfer | RefuseTransfer | CancelTransfer | ExpireTransfer
)


def decide_transfer(state: Case, command: TransferCommand, now: datetime) -> list[Event]:
    if isinstance(command, RequestTransfer):
        return [_request(state, command, now)]
    pending = state.pending_transfer
    if isinstance(command, ExpireTransfer):
        # Early, late or repeated ticks decide nothing new.
        if pending is None or pending.expires_at is None or now < pending.expires_at:
            return []
        return [CaseTransferExpired(transfer_id=pending.transfer_id, expires_at=pending.expires_at)]
    answer = isinstance(command, AcceptTransfer | RefuseTransfer)
    lapsed = state.lapsed_transfer
    if answer and lapsed is not None and lapsed.transfer_id == command.transfer_id:
        raise TransferExpired()
    if pending is None or pending.transfer_id != command.transfer_id:
        raise NoSuchPendingTransfer()
    if answer and pending.expires_at is not None and now >= pending.expires_at:
        raise TransferExpired()  # even before the timer has recorded it
    tid = command.transfer_id
    match command:
        case AcceptTransfer():
            return [
                CaseTransferAccepted(transfer_id=tid, accepted_by=command.accepted_by),
                CaseTransferred(
                    from_caseworker=state.caseworker,
                    # An office-wide request goes to whoever of that office accepts it.
                    to_caseworker=pending.to_caseworker or command.accepted_by,
                    from_office=state.office,
                    to_office=pending.to_office or state.office,
                ),
            ]
        case RefuseTransfer():
            return [
                CaseTransferRefused(
                    transfer_id=tid, refused_by=command.refused_by, reason_code=command.reason_code
                )
            ]
        case _:
            return [CaseTransferCancelled(transfer_id=tid, cancelled_by=command.cancelled_by)]


def _request(state: Case, command: RequestTransfer, now: datetime) -> CaseTransferRequested:
    if state.pending_transfer is not None:
        raise TransferPending()
    if command.to_caseworker is None and command.to_office is None:
        raise InvalidTransition("a transfer names a caseworker, an office or both")
    to_caseworker = command.to_caseworker or state.caseworker
    to_office = command.to_office or state.office
    if (to_caseworker, to_office) == (state.caseworker, state.office):
        raise InvalidTransition("the case is already with this caseworker and office")
    return CaseTransferRequested(
        transfer_id=command.transfer_id,
        from_caseworker=state.caseworker,
        from_office=state.office,
        to_caseworker=command.to_caseworker,
        to_office=command.to_office,
        requested_by=command.requested_by,
        expires_at=None if command.expires_after is None else now + command.expires_after,
    )


def evolve_transfer(state: Case, event: Event) -> Case | None:
    """The case after a transfer event; None for any other event. (``CaseTransferred``
    itself, which moves the case, is the main fold's.)"""
    match event:
        case CaseTransferRequested():
            pending = PendingTransfer(
                event.transfer_id, event.to_caseworker, event.to_office, event.expires_at
            )
            return replace(state, pending_transfer=pending)
        case CaseTransferExpired():
            return replace(state, pending_transfer=None, lapsed_transfer=state.pending_transfer)
        case CaseTransferAccepted() | CaseTransferRefused() | CaseTransferCancelled():
            return replace(state, pending_transfer=None)
        case _:
            return None
