"""The person across cases and over time: category facts, devices, links, duplicates."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from services.case.domain.commands import CloseCase, EraseIdentity
from services.case.domain.errors import CaseClosedError, IdentityErasedError, InvalidTransition
from services.case.domain.person import (
    DismissDuplicate,
    LinkFamily,
    LinkSamePerson,
    RecordAssistiveDevice,
    RevertDismissal,
    UnlinkFamily,
    UnlinkSamePerson,
)
from shared.events import registry
from shared.events.case import CaseClosed, IdentityErased, SurvivorProfileRecorded
from shared.events.case_facts import Injury, MineFacts, RefugeeFacts, TraffickingFacts
from shared.events.case_person import (
    AssistiveDeviceRecorded,
    DuplicateDismissalReverted,
    DuplicateDismissed,
    FamilyLinked,
    FamilyUnlinked,
    SamePersonLinked,
    SamePersonUnlinked,
)

from .builders import given, opened, profile, profiled, when

OTHER = "0190a0c4-0000-7000-8000-000000000001"
FITTED = AssistiveDeviceRecorded(
    device_id="d1", device="lower_limb_prosthesis", action="fitted", on=date(2024, 3, 1)
)


def device(action: str, device_id: str = "d1", kind: str = "lower_limb_prosthesis") -> object:
    return RecordAssistiveDevice(
        device_id=device_id,
        device=kind,
        action=action,
        on=date(2025, 1, 5),  # type: ignore[arg-type]
    )


# -- category facts -----------------------------------------------------------------------------


def test_a_v1_profile_event_is_upcast_with_no_category_facts() -> None:
    v1 = profiled().model_dump(mode="json")
    for name in ("trafficking", "mine_eo", "refugee_asylum"):
        del v1["profile"][name]
    event = registry.load("org.safepath.case.SurvivorProfileRecorded.v1", v1)
    assert isinstance(event, SurvivorProfileRecorded)
    assert event.profile.trafficking is None and event.profile.mine_eo is None
    assert SurvivorProfileRecorded.type_name().endswith(".v3")


def test_category_facts_travel_in_clear_and_survive_the_registry() -> None:
    p = profile(
        categories=["trafficking", "mine_eo", "refugee_asylum"],
        trafficking=TraffickingFacts(exploitation_forms=["forced_labour"], scope="cross_border",
                                     exploitation_country="RU", exploitation_start_year=2019),
        mine_eo=MineFacts(victim="direct", incident_district="shugnon", incident_year=2021,
                          injuries=[Injury(kind="amputation", amputation_level="foot_or_toes")]),
        refugee_asylum=RefugeeFacts(country_of_origin="AF", procedure_stage="appeal"),
    )  # fmt: skip
    event = SurvivorProfileRecorded(profile=p)
    data = event.model_dump(mode="json")
    assert data["profile"]["mine_eo"]["incident_district"] == "shugnon"
    assert registry.load(event.type_name(), data) == event


@pytest.mark.parametrize(
    "facts",
    [
        {"mine_eo": MineFacts(victim="direct")},  # case is trafficking only
        {"refugee_asylum": RefugeeFacts()},
    ],
)
def test_facts_of_a_category_the_case_is_not_in_are_refused(facts: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        profile(**facts)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: MineFacts(victim="direct", outcome="killed"),
        lambda: MineFacts(victim="indirect", injuries=[Injury(kind="eye")]),
        lambda: MineFacts(victim="direct", incident_district="atlantis"),
        lambda: Injury(kind="amputation"),
        lambda: Injury(kind="eye", amputation_level="foot_or_toes"),
        lambda: TraffickingFacts(exploitation_forms=["sexual", "sexual"]),
        lambda: RefugeeFacts(country_of_origin="afg"),
    ],
)
def test_inconsistent_facts_cannot_be_constructed(bad: object) -> None:
    with pytest.raises(ValidationError):
        bad()  # type: ignore[operator]


# -- assistive devices --------------------------------------------------------------------------


def test_a_fitted_device_can_be_repaired_and_replaced() -> None:
    history = [opened(), profiled(), FITTED]
    assert when(history, device("repaired")) == [  # type: ignore[arg-type]
        AssistiveDeviceRecorded(
            device_id="d1", device="lower_limb_prosthesis", action="repaired", on=date(2025, 1, 5)
        )
    ]
    assert len(when(history, device("replaced"))) == 1  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("history_has_fitting", "command"),
    [
        (False, device("repaired")),
        (True, device("fitted")),
        (True, device("repaired", kind="wheelchair")),
    ],
)
def test_device_history_must_make_sense(history_has_fitting: bool, command: object) -> None:
    history = [opened(), profiled(), *([FITTED] if history_has_fitting else [])]
    with pytest.raises(InvalidTransition):
        when(history, command)  # type: ignore[arg-type]


# -- family and same-person links ----------------------------------------------------------------


def test_family_is_linked_once_and_unlinked_once() -> None:
    linked = FamilyLinked(other_case_id=OTHER, relation="child")
    assert when([opened()], LinkFamily(other_case_id=OTHER, relation="child")) == [linked]
    with pytest.raises(InvalidTransition):
        when([opened(), linked], LinkFamily(other_case_id=OTHER, relation="parent"))
    assert when([opened(), linked], UnlinkFamily(other_case_id=OTHER)) == [
        FamilyUnlinked(other_case_id=OTHER)
    ]
    with pytest.raises(InvalidTransition):
        when([opened()], UnlinkFamily(other_case_id=OTHER))
    state = given(opened(), linked)
    assert state is not None and state.family == ((OTHER, "child"),)


def test_same_person_decisions_are_reversible() -> None:
    linked = SamePersonLinked(other_case_id=OTHER)
    dismissed = DuplicateDismissed(other_case_id=OTHER)
    assert when([opened()], LinkSamePerson(other_case_id=OTHER)) == [linked]
    assert when([opened(), linked], UnlinkSamePerson(other_case_id=OTHER)) == [
        SamePersonUnlinked(other_case_id=OTHER)
    ]
    assert when([opened()], DismissDuplicate(other_case_id=OTHER)) == [dismissed]
    assert when([opened(), dismissed], RevertDismissal(other_case_id=OTHER)) == [
        DuplicateDismissalReverted(other_case_id=OTHER)
    ]
    # A dismissed pair may still be linked later (the link clears the dismissal).
    state = given(opened(), dismissed, linked)
    assert state is not None and state.same_person == (OTHER,) and not state.dismissed_duplicates


@pytest.mark.parametrize(
    ("history", "command"),
    [
        ([], UnlinkSamePerson(other_case_id=OTHER)),
        ([SamePersonLinked(other_case_id=OTHER)], LinkSamePerson(other_case_id=OTHER)),
        ([SamePersonLinked(other_case_id=OTHER)], DismissDuplicate(other_case_id=OTHER)),
        ([DuplicateDismissed(other_case_id=OTHER)], DismissDuplicate(other_case_id=OTHER)),
        ([], RevertDismissal(other_case_id=OTHER)),
    ],
)
def test_same_person_decisions_that_make_no_sense_are_refused(
    history: list[object], command: object
) -> None:
    with pytest.raises(InvalidTransition):
        when([opened(), *history], command)  # type: ignore[arg-type, list-item]


def test_a_closed_case_takes_duplicate_decisions_but_not_new_facts() -> None:
    closed = [opened(), profiled(), CaseClosed(reason="duplicate")]
    assert when(closed, LinkSamePerson(other_case_id=OTHER)) == [
        SamePersonLinked(other_case_id=OTHER)
    ]
    with pytest.raises(CaseClosedError):
        when(closed, device("fitted", device_id="d2"))  # type: ignore[arg-type]
    with pytest.raises(CaseClosedError):
        when(closed, LinkFamily(other_case_id=OTHER, relation="child"))


def test_an_erased_case_cannot_be_linked_but_links_can_be_undone() -> None:
    linked = SamePersonLinked(other_case_id=OTHER)
    erased = [opened(), linked, IdentityErased(erased_by="admin-1", reason_code="legal_order")]
    assert when(erased, UnlinkSamePerson(other_case_id=OTHER)) == [
        SamePersonUnlinked(other_case_id=OTHER)
    ]
    with pytest.raises(IdentityErasedError):
        when(erased, LinkFamily(other_case_id=OTHER, relation="child"))
    assert when(erased, CloseCase(reason="duplicate")) == [CaseClosed(reason="duplicate")]
    with pytest.raises(IdentityErasedError):
        when(erased, EraseIdentity(erased_by="admin-1", reason_code="other"))
