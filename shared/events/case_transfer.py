"""Case events of a transfer that the receiving side accepts (issue 13 item 7).

A transfer is a request: the sending side asks, the receiving office (or the caseworker
named) accepts or refuses, the sending side may cancel while it is pending. Until it is
accepted nothing moves: the sending office keeps the case. Acceptance is recorded and
followed by the ``CaseTransferred`` every service already follows (scopes, referrals,
notifications), so nothing downstream changes before the receiving side said yes. A request
nobody answers expires (``CaseTransferExpired``, decided by the case service's transfer
timer once ``expires_at`` has passed); the sending side keeps the case. Every field is
clear: ids, codes, offices, account subjects and times, never the person.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime

from shared.events.base import Event
from shared.events.case import Identifier, Office, Subject
from shared.events.registry import registry

# Why the receiving side said no (a code, never free text).
TransferRefusal = Literal[
    "no_capacity",
    "outside_mandate",
    "outside_area",
    "conflict_of_interest",
    "other",
]


class _TransferEvent(Event):
    service = "case"
    transfer_id: Identifier


@registry.register
class CaseTransferRequested(_TransferEvent):
    """The sending side asks to hand the case over; it keeps the case meanwhile.

    v2: ``expires_at``, after which the request can no longer be accepted (v1 requests,
    from before requests expired, are upcast with None: they wait for an answer)."""

    version = 2
    from_caseworker: Subject
    from_office: Office | None
    to_caseworker: Subject | None  # None: whoever of ``to_office`` accepts takes it
    to_office: Office | None
    requested_by: Subject
    expires_at: AwareDatetime | None


@registry.upcaster("case", "CaseTransferRequested", 1)
def _requested_v1(data: dict[str, Any]) -> dict[str, Any]:
    return {**data, "expires_at": None}


@registry.register
class CaseTransferAccepted(_TransferEvent):
    """The receiving side said yes; a ``CaseTransferred`` follows in the same append."""

    accepted_by: Subject


@registry.register
class CaseTransferRefused(_TransferEvent):
    """The receiving side said no; the case stays where it is."""

    refused_by: Subject
    reason_code: TransferRefusal


@registry.register
class CaseTransferCancelled(_TransferEvent):
    """The sending side withdrew its request before an answer."""

    cancelled_by: Subject


@registry.register
class CaseTransferExpired(_TransferEvent):
    """Nobody answered by ``expires_at``: the request is over and the case stays where it
    is. Decided by the transfer timer (a service, not a person)."""

    expires_at: AwareDatetime
