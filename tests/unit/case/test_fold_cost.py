"""Folding a case costs O(1) per event: work is counted (calls, bytes kept), never timed."""

from __future__ import annotations

import sys
import tracemalloc
from collections.abc import Callable
from types import FrameType
from typing import Any

from services.case.domain import Case, evolve, fold
from services.case.domain.state import NoteIds
from shared.events.base import Event
from shared.events.case import CaseNoteAdded

from .builders import consent_given, opened, profiled, sealed

NOTE = sealed("note")


def history(notes: int) -> list[Event]:
    """A case as long cases are: a few facts, then mostly notes."""
    events: list[Event] = [opened(), profiled(), consent_given()]
    events += [CaseNoteAdded(note_id=f"n{i}", note=NOTE) for i in range(notes)]
    return events


def calls_during(fn: Callable[[], object]) -> int:
    """How many functions (Python and C) ``fn`` calls."""
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        fn()
    finally:
        sys.setprofile(None)
    return count


def bytes_kept_by_every_state(events: list[Event]) -> int:
    """Memory held by all the intermediate states of the fold, kept alive together.

    Copying the note ids per note (a new set each time) makes this grow with the square of
    the notes; sharing them makes it linear.
    """
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        states: list[Case] = []
        state: Case | None = None
        for event in events:
            state = evolve(state, event)
            states.append(state)
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert len(states) == len(events)
    return kept


def test_folding_twice_the_notes_does_twice_the_work() -> None:
    small, large = history(500), history(1000)
    calls_small = calls_during(lambda: fold(small))
    calls_large = calls_during(lambda: fold(large))
    assert 1.8 < calls_large / calls_small < 2.2
    bytes_small = bytes_kept_by_every_state(small)
    bytes_large = bytes_kept_by_every_state(large)
    assert bytes_large / bytes_small < 2.5  # quadratic would be about 4


def test_the_fold_of_1000_notes_knows_every_note() -> None:
    case = fold(history(1000))
    assert isinstance(case, Case)
    assert len(case.note_ids) == 1000
    assert "n0" in case.note_ids and "n999" in case.note_ids and "n1000" not in case.note_ids
    assert case.note_ids == frozenset(f"n{i}" for i in range(1000))


def test_note_ids_never_change_once_made() -> None:
    base = NoteIds().add("a")
    b = base.add("b")
    c = base.add("c")  # branches off an older value: b must not see c, nor c see b
    assert set(base) == {"a"} and len(base) == 1
    assert b == frozenset({"a", "b"}) and "c" not in b
    assert c == frozenset({"a", "c"}) and "b" not in c
    assert b.add("b") is b
    assert hash(b) == hash(frozenset({"a", "b"}))
    assert NoteIds(["x", "x", "y"]) == {"x", "y"}


def test_evolve_keeps_earlier_states_as_they_were() -> None:
    first = fold(history(2))
    assert first is not None
    second = evolve(first, CaseNoteAdded(note_id="n2", note=NOTE))
    third = evolve(first, CaseNoteAdded(note_id="other", note=NOTE))
    assert first.note_ids == {"n0", "n1"}
    assert second.note_ids == {"n0", "n1", "n2"}
    assert third.note_ids == {"n0", "n1", "other"}
    assert (second.status, second.region, second.consents) == (
        first.status,
        first.region,
        first.consents,
    )
