"""The coordinator records that no provider exists for a need: the path from
``unroutable`` ends with a recorded decision (issue 13 item 6).

The Rasht boy of ``test_coordinator``: nobody in DRS offers mine survivors psychosocial
support; NMAC decides the need is left unmet, for a reason code.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import get_args

import pytest
from pydantic import ValidationError

from services.referral.domain.commands import (
    AcceptReferral,
    CloseUnmet,
    EscalateReferral,
    RerouteReferral,
    WithdrawReferral,
)
from services.referral.domain.decide import decide
from services.referral.domain.errors import InvalidTransition, NotAssignedProvider, ReferralNotFound
from services.referral.domain.evolve import replay
from services.referral.domain.state import FINISHED
from shared.events.base import Event
from shared.events.referral import (
    DataDeletionRequested,
    ReferralClosedUnmet,
    ReferralRouted,
    UnmetReason,
)

from .builders import NOW, default_view
from .test_coordinator import ASSIGN, CAMP, REFERRAL_ID, unroutable

CLOSE = CloseUnmet(REFERRAL_ID, "no_provider_in_region", "nmac-officer-1")


def closed() -> list[Event]:
    directory = default_view()
    events = unroutable(directory)
    return events + decide(replay(events), CLOSE, NOW + timedelta(days=1), directory)


def test_the_coordinator_records_that_no_provider_exists_for_the_need() -> None:
    events = closed()
    decision = events[-1]

    assert isinstance(decision, ReferralClosedUnmet)
    assert (decision.need, decision.reason_code, decision.decided_by) == (
        "psychosocial",
        "no_provider_in_region",
        "nmac-officer-1",
    )
    assert decision.coordinator_id == "nmac"  # whose queue it was in
    assert decision.case_id == "case-rasht"


def test_the_referral_is_finished_unmet_with_its_reason() -> None:
    state = replay(closed())

    assert state is not None
    assert (state.status, state.unmet_reason) == ("unmet", "no_provider_in_region")
    assert "unmet" in FINISHED and not state.is_open
    assert state.respond_by is None and state.provider_id is None  # no timer looks at it


def test_afterwards_nothing_reopens_it() -> None:
    state, directory = replay(closed()), default_view()

    for command in (ASSIGN, RerouteReferral(REFERRAL_ID), CLOSE):
        with pytest.raises(InvalidTransition):
            decide(state, command, NOW, directory)


def test_the_escalation_timer_finds_nothing_to_do() -> None:
    later = NOW + timedelta(days=30)
    assert decide(replay(closed()), EscalateReferral(REFERRAL_ID), later, default_view()) == []


def test_no_provider_may_accept_it() -> None:
    with pytest.raises(NotAssignedProvider):  # nobody holds an unmet referral
        decide(replay(closed()), AcceptReferral(REFERRAL_ID, CAMP), NOW, default_view())


def test_only_an_unroutable_referral_is_closed_unmet() -> None:
    directory = default_view()
    events = unroutable(directory)
    events += decide(replay(events), ASSIGN, NOW, directory)
    assert isinstance(events[-1], ReferralRouted)  # a provider holds it: it answers first

    with pytest.raises(InvalidTransition):
        decide(replay(events), CLOSE, NOW, directory)


def test_a_withdrawal_afterwards_stops_nothing_but_still_tells_the_providers_it_reached() -> None:
    directory = default_view()
    events = unroutable(directory)
    state = replay(events)
    assert state is not None and not state.tried  # nobody ever received it

    after = decide(
        replay(closed()), WithdrawReferral(REFERRAL_ID, "consent_withdrawn"), NOW, directory
    )

    assert after == []  # not withdrawn again (finished), and no provider holds anything
    # A referral that reached providers before it became unroutable: they are told.
    tried = replay(closed())
    assert tried is not None
    with_tried = replace(tried, tried=frozenset({CAMP}))
    [deletion] = decide(
        with_tried, WithdrawReferral(REFERRAL_ID, "consent_withdrawn"), NOW, directory
    )
    assert isinstance(deletion, DataDeletionRequested) and deletion.provider_ids == [CAMP]


def test_an_unknown_referral_is_not_found() -> None:
    with pytest.raises(ReferralNotFound):
        decide(None, CLOSE, NOW, default_view())


def test_reasons_are_a_closed_list_of_codes() -> None:
    assert set(get_args(UnmetReason)) == {
        "no_provider_in_region",
        "no_provider_for_category",
        "person_moved",
        "referred_outside_mechanism",
        "other",
    }
    decision = closed()[-1]
    assert isinstance(decision, ReferralClosedUnmet)
    with pytest.raises(ValidationError):
        ReferralClosedUnmet.model_validate(
            {**decision.model_dump(), "reason_code": "the boy's family moved to Khujand"}
        )
