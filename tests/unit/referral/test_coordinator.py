"""The coordinator acts on an unroutable referral: assigns a provider by hand (recorded as
outside the automatic rules) or runs routing again after the directory changed.

The story from issue 13: a 15-year-old mine survivor in Rasht asks for psychosocial
support; the only mine-survivor psychosocial provider (the NMAC camp) serves Sughd.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.referral.domain.commands import (
    AssignProvider,
    OpenReferral,
    RerouteReferral,
    referral_id_for,
)
from services.referral.domain.decide import decide
from services.referral.domain.directory_view import DirectoryView
from services.referral.domain.errors import CannotAssign, InvalidTransition, ProviderNotInDirectory
from services.referral.domain.evolve import replay
from services.referral.domain.sla import DEFAULT_SLAS
from shared.events.base import Event
from shared.events.referral import (
    ReferralAssignedByHand,
    ReferralRouted,
    ReferralUnroutable,
    ServiceArea,
)

from .builders import NOW, consent, default_view, facts

REQUEST_ID = "0190f5b4-6c1e-7a3b-9c2d-3e4f5a6b7c8d"
REFERRAL_ID = referral_id_for(REQUEST_ID, "psychosocial")
CAMP = "nmac-psychosocial-camp"
RASHT_BOY = facts(
    categories=("mine_eo",), region="drs", district="rasht", sex="male", age_band="12-17"
)
OPEN = OpenReferral(
    referral_id=REFERRAL_ID,
    request_id=REQUEST_ID,
    case_id="case-rasht",
    need="psychosocial",
    urgency="routine",
    facts=RASHT_BOY,
    consent=consent(service_types=["psychosocial"]),
    emergency_without_consent=False,
)
ASSIGN = AssignProvider(REFERRAL_ID, CAMP, "travel_arranged", "nmac-officer-1")


def unroutable(directory: DirectoryView) -> list[Event]:
    events = decide(None, OPEN, NOW, directory)
    assert isinstance(events[0], ReferralUnroutable)
    return events


def test_the_rasht_boy_is_unroutable_and_nmac_is_alerted() -> None:
    [event] = unroutable(default_view())

    assert isinstance(event, ReferralUnroutable) and event.coordinator_id == "nmac"
    assert {c.provider_id: c.failed for c in event.reasons.excluded}[CAMP] == ["area"]


def test_the_coordinator_assigns_the_camp_by_hand_and_the_area_rule_is_recorded_overridden() -> (
    None
):
    directory = default_view()
    events = unroutable(directory)

    assigned, routed = decide(replay(events), ASSIGN, NOW + timedelta(hours=2), directory)

    assert isinstance(assigned, ReferralAssignedByHand)
    assert (assigned.provider_id, assigned.reason_code, assigned.assigned_by) == (
        CAMP,
        "travel_arranged",
        "nmac-officer-1",
    )
    assert assigned.overridden == ["area"]
    assert isinstance(routed, ReferralRouted)
    assert (routed.provider_id, routed.attempt) == (CAMP, 2)
    assert routed.respond_by == NOW + timedelta(hours=2) + DEFAULT_SLAS["routine"]
    assert "area" not in routed.reasons.matched and "consent" in routed.reasons.matched
    assert "assigned by hand" in routed.reasons.summary and "area" in routed.reasons.summary
    state = replay([*events, assigned, routed])
    assert state is not None and (state.status, state.provider_id) == ("awaiting_answer", CAMP)


def test_not_even_a_coordinator_may_share_beyond_the_consent() -> None:
    directory = default_view()
    only_legal = replace(OPEN, consent=consent(provider_ids=["legal-aid-centres-drs"]))
    events = decide(None, only_legal, NOW, directory)

    with pytest.raises(CannotAssign) as refused:
        decide(replay(events), ASSIGN, NOW, directory)
    assert refused.value.rule == "consent"


def test_a_suspended_provider_cannot_be_assigned() -> None:
    directory = default_view()
    events = unroutable(directory)
    suspended = replace(directory, suspended=frozenset({CAMP}))

    with pytest.raises(CannotAssign):
        decide(replay(events), ASSIGN, NOW, suspended)


def test_an_unknown_provider_is_refused() -> None:
    directory = default_view()
    with pytest.raises(ProviderNotInDirectory):
        decide(replay(unroutable(directory)), replace(ASSIGN, provider_id="nobody"), NOW, directory)


def test_only_an_unroutable_referral_is_assigned_or_rerouted() -> None:
    directory = default_view()
    events = unroutable(directory)
    events += decide(replay(events), ASSIGN, NOW, directory)

    with pytest.raises(InvalidTransition):
        decide(replay(events), ASSIGN, NOW, directory)
    with pytest.raises(InvalidTransition):
        decide(replay(events), RerouteReferral(REFERRAL_ID), NOW, directory)


def test_rerouting_finds_the_camp_once_the_directory_says_it_serves_rasht() -> None:
    directory = default_view()
    events = unroutable(directory)
    [again] = decide(replay(events), RerouteReferral(REFERRAL_ID), NOW, directory)
    assert isinstance(again, ReferralUnroutable) and again.attempt == 2  # recorded again
    events.append(again)

    camp = directory.providers[CAMP]
    wider = camp.model_copy(update={"area": ServiceArea(regions=["sughd", "drs"])})
    changed = replace(directory, providers={**directory.providers, CAMP: wider})
    [routed] = decide(replay(events), RerouteReferral(REFERRAL_ID), NOW, changed)

    assert isinstance(routed, ReferralRouted)
    assert (routed.provider_id, routed.attempt, routed.reasons.proximity) == (CAMP, 3, "region")
