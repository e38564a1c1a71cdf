"""Case events about the person across cases and over time (issue 14): assistive devices,
family links between cases, and the supervisor's decisions on possible duplicates.

Every field here is clear: ids of other cases, vocabulary values and dates of service
events. Which cases a person has, and who their family is, is decided by people in
scope (see ``docs/case-domain.md``); the events never carry a name.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from shared.events.base import Event
from shared.events.case import Identifier, UuidString
from shared.events.registry import registry

AssistiveDevice = Literal[
    "lower_limb_prosthesis",
    "upper_limb_prosthesis",
    "orthosis",
    "wheelchair",
    "crutches_or_walking_aid",
    "hearing_aid",
    "spectacles_or_low_vision_aid",
    "other",
]
DeviceAction = Literal["fitted", "repaired", "replaced"]
# What the person of the *other* case is to the person of this case.
FamilyRelation = Literal["parent", "child", "sibling", "spouse", "other_family"]

INVERSE_RELATION: dict[str, FamilyRelation] = {
    "parent": "child",
    "child": "parent",
    "sibling": "sibling",
    "spouse": "spouse",
    "other_family": "other_family",
}


@registry.register
class AssistiveDeviceRecorded(Event):
    """A device was fitted, repaired or replaced (one ``device_id`` per device over time)."""

    service = "case"
    device_id: Identifier
    device: AssistiveDevice
    action: DeviceAction
    on: date
    provider_id: Identifier | None = None


@registry.register
class FamilyLinked(Event):
    """This case's person and the other case's person are family (recorded on both)."""

    service = "case"
    other_case_id: UuidString
    relation: FamilyRelation  # what the other case's person is to this one


@registry.register
class FamilyUnlinked(Event):
    service = "case"
    other_case_id: UuidString


@registry.register
class SamePersonLinked(Event):
    """A supervisor decided both cases are about one person (recorded on both)."""

    service = "case"
    other_case_id: UuidString


@registry.register
class SamePersonUnlinked(Event):
    """The link was a mistake (recorded on both cases)."""

    service = "case"
    other_case_id: UuidString


@registry.register
class DuplicateDismissed(Event):
    """A supervisor decided a suggested pair is two different people (on both cases)."""

    service = "case"
    other_case_id: UuidString


@registry.register
class DuplicateDismissalReverted(Event):
    """The dismissal is taken back: the pair is pending again (on both cases)."""

    service = "case"
    other_case_id: UuidString


PERSON_EVENTS: tuple[type[Event], ...] = (
    AssistiveDeviceRecorded,
    FamilyLinked,
    FamilyUnlinked,
    SamePersonLinked,
    SamePersonUnlinked,
    DuplicateDismissed,
    DuplicateDismissalReverted,
)
