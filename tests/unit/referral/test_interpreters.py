"""Languages and interpreters (issue 13 item 8): routing prefers a provider speaking the
person's language and says in its reasons when an interpreter is needed; old routing events
read with what they knew."""

from __future__ import annotations

from typing import Any

from services.referral.domain.commands import OpenReferral, open_referrals
from services.referral.domain.decide import decide
from services.referral.domain.evolve import replay
from services.referral.domain.routing import route
from shared.events.case import ReferralRequested
from shared.events.referral import ReferralRouted, ReferralUnroutable, RoutingReasons
from shared.events.registry import registry

from .builders import EVERY_SERVICE, NOW, facts, provider, view

UZBEK = facts(language="uz")


def test_a_provider_speaking_uzbek_is_preferred_and_no_interpreter_is_needed() -> None:
    directory = view(
        provider("a-tajik", languages=["tg", "ru"]), provider("b-uzbek", languages=["tg", "uz"])
    )

    decision = route("shelter", UZBEK, directory, set(), EVERY_SERVICE)

    assert decision.provider_id == "b-uzbek"
    assert decision.reasons.language_match is True
    assert decision.reasons.interpreter_needed is False
    assert "speaks uz" in decision.reasons.summary
    assert "interpreter" not in decision.reasons.summary


def test_when_nobody_speaks_the_language_the_reasons_say_an_interpreter_is_needed() -> None:
    directory = view(provider("a-tajik", languages=["tg", "ru"]))

    decision = route("shelter", facts(language="ps"), directory, set(), EVERY_SERVICE)

    assert decision.provider_id == "a-tajik"
    assert decision.reasons.interpreter_needed is True
    assert "interpreter needed: the provider does not speak ps" in decision.reasons.summary


def test_an_interpreter_the_person_asked_for_is_named_even_if_the_provider_speaks_it() -> None:
    directory = view(provider("a-farsi", languages=["tg", "fa"]))

    decision = route(
        "shelter", facts(language="fa", interpreter_needed=True), directory, set(), EVERY_SERVICE
    )

    assert decision.reasons.language_match is True
    assert decision.reasons.interpreter_needed is True
    assert "interpreter needed (fa): the person asked for one" in decision.reasons.summary


def test_an_unroutable_need_says_an_interpreter_was_asked_for() -> None:
    directory = view(provider("legal-only", services=["legal_aid"]))

    decision = route(
        "shelter", facts(language="ky", interpreter_needed=True), directory, set(), EVERY_SERVICE
    )

    assert decision.provider_id is None
    assert decision.reasons.interpreter_needed is True
    assert "interpreter needed (ky)" in decision.reasons.summary


def _request(**changes: Any) -> ReferralRequested:
    data: dict[str, Any] = {
        "referral_id": "0f8e6b1e-4c1a-4c55-9d7e-2f6f3c1d9a10",
        "needs": ["shelter"],
        "urgency": "urgent",
        "categories": ["trafficking"],
        "region": "sughd",
        "district": "khujand",
        "sex": "female",
        "age_band": "25-39",
        "language": "uz",
        "interpreter_needed": True,
        "disability": False,
        "consent": EVERY_SERVICE,
        "emergency_without_consent": False,
        "emergency_reason": None,
        "note": None,
        "office": None,
        "caseworker": "cw-1",
    }
    return ReferralRequested(**{**data, **changes})


def test_the_flag_travels_from_the_request_into_the_routed_event_and_the_state() -> None:
    (opened,) = open_referrals(_request(), "case-1")
    assert isinstance(opened, OpenReferral)
    assert opened.facts.interpreter_needed is True

    events = decide(replay([]), opened, NOW, view(provider("a-tajik", languages=["tg"])))

    routed = events[-1]
    assert isinstance(routed, ReferralRouted)
    assert routed.interpreter_needed is True and routed.reasons.interpreter_needed is True
    assert replay(events).facts.interpreter_needed is True


def test_a_v1_request_reads_as_no_interpreter_asked_for() -> None:
    v1 = _request().model_dump(mode="json")
    del v1["interpreter_needed"]
    del v1["follows_up"]  # v3

    event = registry.load("org.safepath.case.ReferralRequested.v1", v1)

    assert isinstance(event, ReferralRequested) and event.interpreter_needed is False
    assert ReferralRequested.type_name().endswith(".v3")


def test_v1_routing_events_read_with_the_interpreter_their_language_match_implied() -> None:
    (opened,) = open_referrals(_request(language="ps", interpreter_needed=False), "case-1")
    routed = decide(replay([]), opened, NOW, view(provider("a-tajik", languages=["tg"])))[-1]
    v1 = routed.model_dump(mode="json")
    del v1["interpreter_needed"]
    del v1["reasons"]["interpreter_needed"]

    event = registry.load("org.safepath.referral.ReferralRouted.v1", v1)

    assert isinstance(event, ReferralRouted)
    assert event.interpreter_needed is False  # nobody could ask for one before v2
    assert event.reasons.interpreter_needed is True  # the provider did not speak ps
    assert ReferralRouted.type_name().endswith(".v2")
    assert ReferralUnroutable.type_name().endswith(".v2")


def test_reasons_stored_before_v2_read_from_their_language_match() -> None:
    stored = route("shelter", facts(), view(provider("a")), set(), EVERY_SERVICE).reasons
    data = stored.model_dump(mode="json")
    del data["interpreter_needed"]

    assert RoutingReasons.model_validate(data).interpreter_needed is False
    assert RoutingReasons.model_validate({**data, "language_match": False}).interpreter_needed
