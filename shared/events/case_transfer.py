"""Case events of a transfer that the receiving side accepts (issue 13 item 7).

A transfer is a request: the sending side asks, the receiving office (or the caseworker
named) accepts or refuses, the sending side may cancel while it is pending. Until it is
accepted nothing moves: the sending office keeps the case. Acceptance is recorded and
followed by the ``CaseTransferred`` every service already follows (scopes, referrals,
notifications), so nothing downstream changes before the receiving side said yes. Every
field is clear: ids, codes, offices and account subjects, never the person.
"""

from __future__ import annotations

from typing import Literal

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
    """The sending side asks to hand the case over; it keeps the case meanwhile."""

    from_caseworker: Subject
    from_office: Office | None
    to_caseworker: Subject | None  # None: whoever of ``to_office`` accepts takes it
    to_office: Office | None
    requested_by: Subject


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
