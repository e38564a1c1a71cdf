"""Referral lifecycle stories: given events, when a command, then events (or an error)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.referral.domain.commands import (
    AcceptReferral,
    Command,
    CompleteService,
    DeclineReferral,
    EscalateReferral,
    OpenReferral,
    StartService,
    WithdrawReferral,
    open_referrals,
    referral_id_for,
)
from services.referral.domain.decide import decide
from services.referral.domain.directory_view import DirectoryView
from services.referral.domain.errors import (
    InvalidTransition,
    NotAssignedProvider,
    ReferralAlreadyOpened,
    ReferralNotFound,
)
from services.referral.domain.evolve import replay
from services.referral.domain.sla import DEFAULT_SLAS
from shared.events.base import Event
from shared.events.case import ReferralRequested
from shared.events.referral import (
    ReferralAccepted,
    ReferralDeclined,
    ReferralEscalated,
    ReferralRouted,
    ReferralUnroutable,
    ReferralWithdrawn,
    ServiceCompleted,
    ServiceStarted,
)

from .builders import EVERY_SERVICE, NOW, facts, provider, view

REQUEST_ID = "0190f5b4-6c1e-7a3b-9c2d-3e4f5a6b7c8d"
CASE_ID = "case-7"
REFERRAL_ID = referral_id_for(REQUEST_ID, "shelter")
# Three shelters in Sughd, nearest first: a is in Khujand, b serves the region, c is national.
SHELTERS = view(
    provider("a-khujand", area={"districts": ["khujand"]}),
    provider("b-sughd", area={"regions": ["sughd"]}),
    provider("c-national", area={"nationwide": True}),
)
OPEN = OpenReferral(
    referral_id=REFERRAL_ID,
    request_id=REQUEST_ID,
    case_id=CASE_ID,
    need="shelter",
    urgency="urgent",
    facts=facts(),
    consent=EVERY_SERVICE,
    emergency_without_consent=False,
)


def when(
    given: list[Event],
    command: Command,
    at: timedelta = timedelta(0),
    directory: DirectoryView = SHELTERS,
) -> list[Event]:
    return decide(replay(given), command, NOW + at, directory)


def history(*commands: tuple[Command, timedelta]) -> list[Event]:
    events: list[Event] = []
    for command, at in commands:
        events += when(events, command, at)
    return events


def routed() -> list[Event]:
    return history((OPEN, timedelta(0)))


def test_a_new_referral_goes_to_the_nearest_provider_with_an_answer_deadline() -> None:
    [event] = when([], OPEN)

    assert isinstance(event, ReferralRouted)
    assert (event.provider_id, event.attempt, event.case_id) == ("a-khujand", 1, CASE_ID)
    assert event.respond_by == NOW + DEFAULT_SLAS["urgent"]
    assert (event.region, event.district, event.sex, event.age_band) == (
        "sughd",
        "khujand",
        "female",
        "25-39",
    )
    assert event.reasons.proximity == "district"


def test_a_redelivered_request_opens_nothing_new() -> None:
    assert when(routed(), OPEN) == []


def test_another_request_cannot_reuse_the_referral_id() -> None:
    other = OpenReferral(**{**OPEN.__dict__, "request_id": "0190f5b4-0000-7000-8000-000000000000"})

    with pytest.raises(ReferralAlreadyOpened):
        when(routed(), other)


def test_the_assigned_provider_accepts_starts_and_completes() -> None:
    events = routed()
    events += when(events, AcceptReferral(REFERRAL_ID, "a-khujand"))
    events += when(events, StartService(REFERRAL_ID, "a-khujand"))
    events += when(events, CompleteService(REFERRAL_ID, "a-khujand"))

    assert [type(e) for e in events] == [
        ReferralRouted,
        ReferralAccepted,
        ServiceStarted,
        ServiceCompleted,
    ]
    state = replay(events)
    assert state is not None and state.status == "completed" and not state.is_open


def test_a_decline_reroutes_to_the_next_provider_never_the_same_one() -> None:
    events = routed()
    events += when(events, DeclineReferral(REFERRAL_ID, "a-khujand", "no_capacity"))
    events += when(events, DeclineReferral(REFERRAL_ID, "b-sughd", "not_eligible"))

    assert [type(e) for e in events] == [
        ReferralRouted,
        ReferralDeclined,
        ReferralRouted,
        ReferralDeclined,
        ReferralRouted,
    ]
    routes = [e for e in events if isinstance(e, ReferralRouted)]
    assert [(e.provider_id, e.attempt) for e in routes] == [
        ("a-khujand", 1),
        ("b-sughd", 2),
        ("c-national", 3),
    ]
    assert {c.provider_id: c.failed for c in routes[2].reasons.excluded} == {
        "a-khujand": ["already_tried"],
        "b-sughd": ["already_tried"],
    }


def test_when_the_last_provider_declines_the_coordinator_is_alerted() -> None:
    only_one = view(provider("a-khujand", area={"districts": ["khujand"]}))
    events = when([], OPEN, directory=only_one)

    events += when(
        events, DeclineReferral(REFERRAL_ID, "a-khujand", "no_capacity"), directory=only_one
    )

    unroutable = events[-1]
    assert isinstance(unroutable, ReferralUnroutable)
    assert unroutable.coordinator_id == "coordinator-trafficking"
    assert unroutable.attempt == 2
    state = replay(events)
    assert state is not None and state.status == "unroutable" and state.provider_id is None


def test_only_the_assigned_provider_may_answer() -> None:
    with pytest.raises(NotAssignedProvider):
        when(routed(), AcceptReferral(REFERRAL_ID, "b-sughd"))
    declined = history(
        (OPEN, timedelta(0)), (DeclineReferral(REFERRAL_ID, "a-khujand", "other"), timedelta(0))
    )
    with pytest.raises(NotAssignedProvider):  # a provider that declined no longer holds it
        when(declined, AcceptReferral(REFERRAL_ID, "a-khujand"))


@pytest.mark.parametrize(
    ("done", "command"),
    [
        ([], StartService(REFERRAL_ID, "a-khujand")),
        ([], CompleteService(REFERRAL_ID, "a-khujand")),
        (["accept"], CompleteService(REFERRAL_ID, "a-khujand")),
        (["accept"], AcceptReferral(REFERRAL_ID, "a-khujand")),
        (["accept"], DeclineReferral(REFERRAL_ID, "a-khujand", "other")),
        (["accept", "start"], StartService(REFERRAL_ID, "a-khujand")),
    ],
    ids=[
        "start before accept",
        "complete before start",
        "complete before start (accepted)",
        "accept twice",
        "decline after accept",
        "start twice",
    ],
)
def test_steps_out_of_order_are_refused(done: list[str], command: Command) -> None:
    steps = {
        "accept": AcceptReferral(REFERRAL_ID, "a-khujand"),
        "start": StartService(REFERRAL_ID, "a-khujand"),
    }
    events = history((OPEN, timedelta(0)), *((steps[s], timedelta(0)) for s in done))

    with pytest.raises(InvalidTransition):
        when(events, command)


def test_an_unknown_referral_is_not_found() -> None:
    with pytest.raises(ReferralNotFound):
        when([], AcceptReferral(REFERRAL_ID, "a-khujand"))


def test_an_unanswered_referral_is_escalated_after_its_deadline_and_rerouted() -> None:
    deadline = DEFAULT_SLAS["urgent"]

    early = when(routed(), EscalateReferral(REFERRAL_ID), at=deadline - timedelta(seconds=1))
    due = when(routed(), EscalateReferral(REFERRAL_ID), at=deadline)

    assert early == []
    escalated, rerouted = due
    assert isinstance(escalated, ReferralEscalated)
    assert (escalated.provider_id, escalated.deadline) == ("a-khujand", NOW + deadline)
    assert isinstance(rerouted, ReferralRouted)
    assert rerouted.provider_id == "b-sughd"
    assert rerouted.respond_by == NOW + deadline + DEFAULT_SLAS["urgent"]


def test_a_timer_firing_twice_escalates_once() -> None:
    deadline = DEFAULT_SLAS["urgent"]
    events = routed() + when(routed(), EscalateReferral(REFERRAL_ID), at=deadline)

    assert when(events, EscalateReferral(REFERRAL_ID), at=deadline + timedelta(minutes=1)) == []


def test_an_answered_referral_is_not_escalated() -> None:
    events = history((OPEN, timedelta(0)), (AcceptReferral(REFERRAL_ID, "a-khujand"), timedelta(0)))

    assert when(events, EscalateReferral(REFERRAL_ID), at=timedelta(days=30)) == []


def test_the_sla_depends_on_urgency_and_can_be_configured() -> None:
    emergency = OpenReferral(**{**OPEN.__dict__, "urgency": "emergency"})
    short = {
        "emergency": timedelta(minutes=15),
        "urgent": timedelta(hours=4),
        "routine": timedelta(days=7),
    }

    [default] = decide(None, emergency, NOW, SHELTERS)
    [configured] = decide(None, emergency, NOW, SHELTERS, short)

    assert isinstance(default, ReferralRouted) and isinstance(configured, ReferralRouted)
    assert default.respond_by == NOW + timedelta(hours=1)
    assert configured.respond_by == NOW + timedelta(minutes=15)


def test_closing_the_case_withdraws_an_accepted_referral_and_tells_its_provider() -> None:
    events = history((OPEN, timedelta(0)), (AcceptReferral(REFERRAL_ID, "a-khujand"), timedelta(0)))

    [withdrawn, _deletion] = when(events, WithdrawReferral(REFERRAL_ID, "case_closed"))

    assert isinstance(withdrawn, ReferralWithdrawn)
    assert (withdrawn.provider_id, withdrawn.cause) == ("a-khujand", "case_closed")
    with pytest.raises(InvalidTransition):
        when([*events, withdrawn], StartService(REFERRAL_ID, "a-khujand"))


def test_withdrawing_a_finished_referral_does_not_withdraw_it_again() -> None:
    events = history(
        (OPEN, timedelta(0)),
        (AcceptReferral(REFERRAL_ID, "a-khujand"), timedelta(0)),
        (StartService(REFERRAL_ID, "a-khujand"), timedelta(0)),
        (CompleteService(REFERRAL_ID, "a-khujand"), timedelta(0)),
    )

    decided = when(events, WithdrawReferral(REFERRAL_ID, "consent_withdrawn"))

    # Its provider is still told to delete (test_data_deletion.py), but it stays completed.
    assert not any(isinstance(e, ReferralWithdrawn) for e in decided)
    state = replay([*events, *decided])
    assert state is not None and state.status == "completed"


def test_an_emergency_without_consent_is_routed_and_the_reasons_say_so() -> None:
    emergency = OpenReferral(
        **{
            **OPEN.__dict__,
            "urgency": "emergency",
            "emergency_without_consent": True,
            "consent": EVERY_SERVICE.model_copy(update={"consent_id": None, "service_types": []}),
        }
    )

    [event] = when([], emergency)

    assert isinstance(event, ReferralRouted)
    assert event.reasons.consent_basis == "emergency_without_consent"


def test_consent_expiring_before_a_reroute_leaves_the_referral_unroutable() -> None:
    short_lived = EVERY_SERVICE.model_copy(update={"expires_at": NOW + timedelta(hours=1)})
    opened = OpenReferral(**{**OPEN.__dict__, "consent": short_lived})
    events = when([], opened)

    events += when(
        events, DeclineReferral(REFERRAL_ID, "a-khujand", "no_capacity"), at=timedelta(hours=2)
    )

    assert isinstance(events[-1], ReferralUnroutable)
    assert {c.provider_id: c.failed for c in events[-1].reasons.excluded}["b-sughd"] == ["consent"]


def test_a_request_with_several_needs_opens_one_referral_per_need_urgent_ones_first() -> None:
    request = ReferralRequested(
        referral_id=REQUEST_ID,
        needs=["legal_aid", "shelter"],
        urgency="urgent",
        categories=["trafficking"],
        region="sughd",
        district="khujand",
        sex="female",
        age_band="25-39",
        language="tg",
        disability=False,
        consent=EVERY_SERVICE,
        emergency_without_consent=False,
        emergency_reason=None,
        note=None,
        office=None,
        caseworker="cw-1",
    )

    commands = open_referrals(request, CASE_ID)

    assert [c.need for c in commands] == ["shelter", "legal_aid"]
    assert [c.referral_id for c in commands] == [
        referral_id_for(REQUEST_ID, "shelter"),
        referral_id_for(REQUEST_ID, "legal_aid"),
    ]
    assert open_referrals(request, CASE_ID) == commands  # same ids on redelivery
    assert commands[0].facts == facts()
