"""Break the glass: a reason, a time limit, no renewal while it runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.case.domain.commands import CloseCase
from services.case.domain.emergency import (
    BreakGlass,
    EmergencyAccessActive,
    has_emergency_access,
)
from services.case.domain.errors import InvalidTransition
from shared.events.base import Event
from shared.events.case_emergency import EmergencyAccessGranted

from .builders import NOW, given, opened, sealed, when

HOUR = timedelta(hours=1)


def glass(who: str = "cw-khorog", until: timedelta = HOUR, grant: str = "g-1") -> BreakGlass:
    return BreakGlass(
        grant_id=grant,
        who=who,
        role="caseworker",
        reason=sealed("brought to the Khorog hospital unconscious"),
        expires_at=NOW + until,
    )


def test_a_grant_records_who_why_until_when_and_whose_case_it_is() -> None:
    [granted] = when([opened()], glass())

    assert isinstance(granted, EmergencyAccessGranted)
    assert (granted.who, granted.role, granted.expires_at) == (
        "cw-khorog",
        "caseworker",
        NOW + HOUR,
    )
    assert granted.reason.ct != "" and "Khorog" not in granted.model_dump_json()
    case = given(opened(), granted)
    assert case is not None and (granted.owning_office, granted.owning_region) == (
        case.office,
        case.region,
    )
    assert has_emergency_access(case, "cw-khorog", NOW + HOUR - timedelta(seconds=1))
    assert not has_emergency_access(case, "cw-khorog", NOW + HOUR)  # the limit is strict
    assert not has_emergency_access(case, "someone-else", NOW)


def test_no_renewal_while_it_runs_a_new_reason_afterwards() -> None:
    history: list[Event] = [opened()]
    history += when(history, glass())

    with pytest.raises(EmergencyAccessActive):
        when(history, glass(grant="g-2"), NOW + HOUR / 2)
    [again] = when(history, glass(grant="g-2", until=3 * HOUR), NOW + HOUR)
    assert isinstance(again, EmergencyAccessGranted) and again.grant_id == "g-2"


def test_a_grant_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(InvalidTransition):
        when([opened()], glass(until=timedelta(0)))


def test_a_closed_case_can_still_be_opened_in_an_emergency() -> None:
    history: list[Event] = [opened()]
    history += when(history, CloseCase(reason="lost_contact"))

    assert len(when(history, glass())) == 1
