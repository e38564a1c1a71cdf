"""How the person events of ``domain/person.py`` change a case's state."""

from __future__ import annotations

from dataclasses import replace

from services.case.domain.state import Case
from shared.events.base import Event
from shared.events.case_person import (
    AssistiveDeviceRecorded,
    CasualtyLinked,
    DuplicateDismissalReverted,
    DuplicateDismissed,
    FamilyLinked,
    FamilyUnlinked,
    SamePersonLinked,
    SamePersonUnlinked,
)


def evolve_person(state: Case, event: Event) -> Case:
    """The case after a person event; any other event leaves it unchanged."""
    match event:
        case AssistiveDeviceRecorded():
            if event.action != "fitted":
                return state
            return replace(state, devices=(*state.devices, (event.device_id, event.device)))
        case FamilyLinked():
            return replace(state, family=(*state.family, (event.other_case_id, event.relation)))
        case CasualtyLinked():  # family links hold case ids and casualty-record ids
            return replace(state, family=(*state.family, (event.casualty_id, event.relation)))
        case FamilyUnlinked():
            family = tuple(f for f in state.family if f[0] != event.other_case_id)
            return replace(state, family=family)
        case SamePersonLinked():
            dismissed = _without(state.dismissed_duplicates, event.other_case_id)
            return replace(
                state,
                same_person=(*state.same_person, event.other_case_id),
                dismissed_duplicates=dismissed,
            )
        case SamePersonUnlinked():
            return replace(state, same_person=_without(state.same_person, event.other_case_id))
        case DuplicateDismissed():
            dismissed = (*state.dismissed_duplicates, event.other_case_id)
            return replace(state, dismissed_duplicates=dismissed)
        case DuplicateDismissalReverted():
            dismissed = _without(state.dismissed_duplicates, event.other_case_id)
            return replace(state, dismissed_duplicates=dismissed)
        case _:
            return state


def _without(ids: tuple[str, ...], case_id: str) -> tuple[str, ...]:
    return tuple(i for i in ids if i != case_id)
