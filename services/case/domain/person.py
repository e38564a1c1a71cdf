"""The person across cases and over time: assistive devices, family links, and the
supervisor's decisions on possible duplicates (same person / dismissed).

Links are recorded on both cases; the app layer decides each side with ``decide`` on that
side's state, so each case checks its own rules (a link twice, an unlink never linked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict

from services.case.domain.errors import DomainError, InvalidTransition
from services.case.domain.state import Case
from shared.events.base import Event
from shared.events.case import Identifier, UuidString
from shared.events.case_person import (
    AssistiveDevice,
    AssistiveDeviceRecorded,
    CasualtyId,
    CasualtyLinked,
    DeviceAction,
    DuplicateDismissalReverted,
    DuplicateDismissed,
    FamilyLinked,
    FamilyRelation,
    FamilyUnlinked,
    SamePersonLinked,
    SamePersonUnlinked,
)


class PersonCommand(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RecordAssistiveDevice(PersonCommand):
    device_id: Identifier
    device: AssistiveDevice
    action: DeviceAction
    on: date
    provider_id: Identifier | None = None


class LinkFamily(PersonCommand):
    other_case_id: UuidString
    relation: FamilyRelation


class LinkCasualty(PersonCommand):
    casualty_id: CasualtyId
    relation: FamilyRelation  # what the person killed was to this case's person


class UnlinkFamily(PersonCommand):
    other_case_id: UuidString


class LinkSamePerson(PersonCommand):
    other_case_id: UuidString


class UnlinkSamePerson(PersonCommand):
    other_case_id: UuidString


class DismissDuplicate(PersonCommand):
    other_case_id: UuidString


class RevertDismissal(PersonCommand):
    other_case_id: UuidString


PERSON_COMMANDS = (
    RecordAssistiveDevice,
    LinkFamily,
    LinkCasualty,
    UnlinkFamily,
    LinkSamePerson,
    UnlinkSamePerson,
    DismissDuplicate,
    RevertDismissal,
)
# Decisions about which cases are one person are bookkeeping across offices: a closed
# case takes them (old cases are where duplicates hide). After erasure, linking would
# re-identify the erased case, so only the undoing decisions remain.
ALLOWED_WHEN_CLOSED = (LinkSamePerson, UnlinkSamePerson, DismissDuplicate, RevertDismissal)
ALLOWED_WHEN_ERASED = (UnlinkSamePerson, DismissDuplicate, UnlinkFamily)


def decide_person(state: Case, command: PersonCommand, case_id: str | None = None) -> list[Event]:
    """The events of one side of a person command (``case_id``: this case's id, when known)."""
    match command:
        case RecordAssistiveDevice():
            return [_device(state, command)]
        case LinkFamily():
            _not_self(case_id, command.other_case_id)
            if command.other_case_id in dict(state.family):
                raise InvalidTransition("the cases are already linked as family")
            return [FamilyLinked(other_case_id=command.other_case_id, relation=command.relation)]
        case LinkCasualty():
            if command.casualty_id in dict(state.family):
                raise InvalidTransition("the case is already linked to this casualty record")
            return [CasualtyLinked(casualty_id=command.casualty_id, relation=command.relation)]
        case UnlinkFamily():
            if command.other_case_id not in dict(state.family):
                raise InvalidTransition("the cases are not linked as family")
            return [FamilyUnlinked(other_case_id=command.other_case_id)]
        case LinkSamePerson():
            _not_self(case_id, command.other_case_id)
            if command.other_case_id in state.same_person:
                raise InvalidTransition("the cases are already linked as one person")
            return [SamePersonLinked(other_case_id=command.other_case_id)]
        case UnlinkSamePerson():
            if command.other_case_id not in state.same_person:
                raise InvalidTransition("the cases are not linked as one person")
            return [SamePersonUnlinked(other_case_id=command.other_case_id)]
        case DismissDuplicate():
            _not_self(case_id, command.other_case_id)
            if command.other_case_id in state.same_person:
                raise InvalidTransition("the cases are linked as one person: unlink them first")
            if command.other_case_id in state.dismissed_duplicates:
                raise InvalidTransition("the pair is already dismissed")
            return [DuplicateDismissed(other_case_id=command.other_case_id)]
        case RevertDismissal():
            if command.other_case_id not in state.dismissed_duplicates:
                raise InvalidTransition("the pair was not dismissed")
            return [DuplicateDismissalReverted(other_case_id=command.other_case_id)]
    raise InvalidTransition("unknown command")


class ReferralOnLinkedCase(DomainError):
    """The same person's linked case already asked for this need."""

    code = "referral_on_linked_case"

    def __init__(self, case_id: str, needs: Sequence[str]) -> None:
        super().__init__(
            f"case {case_id} is linked as the same person and already requested: "
            f"{', '.join(needs)}; refer there, or unlink the cases"
        )


def check_not_referred_on_linked(
    needs: Sequence[str], urgency: str, linked: Mapping[str, Case]
) -> None:
    """A person gets one referral per need across their linked cases: a need requested on
    an open linked case is refused here (an emergency always proceeds). What the referral
    service did with that request (declined, withdrawn) is not the case state's business,
    so closing the other case or unlinking frees the need."""
    if urgency == "emergency":
        return
    for case_id, other in sorted(linked.items()):
        if other.is_closed:
            continue
        asked = {n for r in other.referrals for n in r.needs}
        both = [n for n in needs if n in asked]
        if both:
            raise ReferralOnLinkedCase(case_id, both)


def _not_self(case_id: str | None, other: str) -> None:
    if case_id is not None and case_id == other:
        raise InvalidTransition("a case cannot be linked to itself")


def _device(state: Case, command: RecordAssistiveDevice) -> AssistiveDeviceRecorded:
    known = dict(state.devices)
    if command.action == "fitted" and command.device_id in known:
        raise InvalidTransition(f"device {command.device_id} is already recorded as fitted")
    if command.action != "fitted":
        if command.device_id not in known:
            raise InvalidTransition(f"device {command.device_id} was never fitted")
        if known[command.device_id] != command.device:
            raise InvalidTransition(f"device {command.device_id} is of another kind")
    return AssistiveDeviceRecorded(
        device_id=command.device_id,
        device=command.device,
        action=command.action,
        on=command.on,
        provider_id=command.provider_id,
    )
