"""A follow-up service on a long-term need: a referral request may name an earlier, completed
referral of the same case and need; another case's referral, another need or a service
still under way is refused and nothing is recorded."""

from __future__ import annotations

import uuid

import pytest

from services.case.domain.commands import RequestReferral
from services.case.domain.follow_up_service import (
    EarlierReferral,
    EarlierReferralNotCompleted,
    InvalidFollowUpService,
)
from shared.events import registry
from shared.events.base import Event
from shared.events.case import ReferralRequested
from shared.events.vocabulary import ServiceType

from .builders import consent_given, opened, profiled, when

FIRST = "0f8e6b1e-3f1c-4a53-9a55-6a4f3b0d2c11"
SECOND = "7a1c2d3e-4f50-4a61-8b72-9c8d7e6f5a40"
FITTED = str(uuid.uuid5(uuid.UUID(FIRST), "medical"))  # the first request's medical referral


def requested_once() -> list[Event]:
    history: list[Event] = [
        opened(),
        profiled(),
        consent_given(service_types=["medical", "shelter"]),
    ]
    return history + when(
        history, RequestReferral(referral_id=FIRST, needs=["medical"], urgency="routine")
    )


def follow_up(
    earlier: EarlierReferral | None,
    needs: list[ServiceType] | None = None,
    follows_up: str = FITTED,
) -> RequestReferral:
    return RequestReferral(
        referral_id=SECOND,
        needs=needs or ["medical"],
        urgency="routine",
        follows_up=follows_up,
        earlier=earlier,
    )


def earlier(status: str = "completed", **overrides: object) -> EarlierReferral:
    fields: dict[str, object] = {
        "referral_id": FITTED,
        "request_id": FIRST,
        "need": "medical",
        "status": status,
    }
    fields.update(overrides)
    return EarlierReferral.model_validate(fields)


def test_a_follow_up_of_a_completed_referral_on_the_same_need_carries_the_link() -> None:
    [event] = when(requested_once(), follow_up(earlier()))

    assert isinstance(event, ReferralRequested)
    assert (event.follows_up, event.needs) == (FITTED, ["medical"])


def test_a_plain_request_follows_up_nothing() -> None:
    [event] = when(
        requested_once(), RequestReferral(referral_id=SECOND, needs=["medical"], urgency="routine")
    )
    assert isinstance(event, ReferralRequested) and event.follows_up is None


def test_an_unknown_referral_or_another_cases_reads_alike() -> None:
    # Nothing received for this case (another case's referral is never looked up as ours).
    with pytest.raises(InvalidFollowUpService) as unknown:
        when(requested_once(), follow_up(None))
    # A status row of a request this case never made (forged or stale): the same answer.
    with pytest.raises(InvalidFollowUpService) as foreign:
        when(requested_once(), follow_up(earlier(request_id=str(uuid.uuid4()))))
    # The facts passed in are about another referral than the one named.
    with pytest.raises(InvalidFollowUpService) as mismatched:
        when(requested_once(), follow_up(earlier(), follows_up=str(uuid.uuid4())))
    for e in (unknown, foreign, mismatched):
        assert (e.value.field, e.value.message) == (
            "follows_up",
            "no referral of this case has that id",
        )


def test_a_follow_up_is_for_the_earlier_need_alone() -> None:
    for needs in (["shelter"], ["medical", "shelter"]):
        with pytest.raises(InvalidFollowUpService) as e:
            when(requested_once(), follow_up(earlier(), needs=needs))  # type: ignore[arg-type]
        assert e.value.field == "needs"


@pytest.mark.parametrize("status", ["routed", "accepted", "in_service", "declined", "withdrawn"])
def test_a_service_not_completed_cannot_be_followed_up(status: str) -> None:
    with pytest.raises(EarlierReferralNotCompleted):
        when(requested_once(), follow_up(earlier(status)))


def test_a_v2_request_reads_as_following_up_nothing() -> None:
    [event] = when(requested_once(), follow_up(earlier()))
    v2 = event.model_dump(mode="json")
    del v2["follows_up"]

    loaded = registry.load("org.safepath.case.ReferralRequested.v2", v2)

    assert isinstance(loaded, ReferralRequested) and loaded.follows_up is None
    assert ReferralRequested.type_name().endswith(".v3")
