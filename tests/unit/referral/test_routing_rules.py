"""Each routing rule on its own: given a small directory, when routing, then this choice."""

from __future__ import annotations

from datetime import timedelta

from services.referral.domain.decide import consent_in_force
from services.referral.domain.routing import order_needs, route

from .builders import EVERY_SERVICE, NOW, consent, facts, provider, view


def excluded(decision: object) -> dict[str, list[str]]:
    reasons = decision.reasons  # type: ignore[attr-defined]
    return {c.provider_id: list(c.failed) for c in reasons.excluded}


def test_district_beats_region_beats_nationwide() -> None:
    directory = view(
        provider("a-national", area={"nationwide": True}),
        provider("b-regional", area={"regions": ["sughd"]}),
        provider("c-local", area={"districts": ["khujand"]}),
    )

    decision = route("shelter", facts(), directory, set(), EVERY_SERVICE)

    assert decision.provider_id == "c-local"
    assert decision.reasons.proximity == "district"
    assert [(c.provider_id, c.proximity) for c in decision.reasons.passed_over] == [
        ("b-regional", "region"),
        ("a-national", "nationwide"),
    ]


def test_language_breaks_a_tie_but_never_excludes() -> None:
    directory = view(
        provider("a-russian", languages=["ru"]), provider("b-tajik", languages=["tg", "ru"])
    )

    assert route("shelter", facts(), directory, set(), EVERY_SERVICE).provider_id == "b-tajik"
    only_russian = view(provider("a-russian", languages=["ru"]))
    decision = route("shelter", facts(), only_russian, set(), EVERY_SERVICE)
    assert decision.provider_id == "a-russian"
    assert decision.reasons.language_match is False


def test_nearness_matters_more_than_language() -> None:
    directory = view(
        provider("a-far", area={"nationwide": True}, languages=["tg"]),
        provider("b-near", area={"districts": ["khujand"]}, languages=["ru"]),
    )

    assert route("shelter", facts(), directory, set(), EVERY_SERVICE).provider_id == "b-near"


def test_equal_candidates_are_chosen_by_id() -> None:
    directory = view(provider("b-second"), provider("a-first"))

    assert route("shelter", facts(), directory, set(), EVERY_SERVICE).provider_id == "a-first"


def test_each_failed_rule_is_named() -> None:
    directory = view(
        provider("elsewhere", area={"regions": ["gbao"]}),
        provider("men-only", eligibility={"sexes": ["male"]}),
        provider("older-only", eligibility={"min_age": 40}),
        provider("full", capacity=2),
        provider("suspended"),
        provider("tried"),
        provider(
            "everything-wrong",
            area={"regions": ["gbao"]},
            capacity=0,
            eligibility={"sexes": ["male"], "min_age": 40},
        ),
        provider("legal-only", services=["legal_aid"]),
        provider("mine-only", categories=["mine_eo"]),
    )
    directory = view(
        *directory.providers.values(), suspended=frozenset({"suspended"}), in_use={"full": 2}
    )

    decision = route("shelter", facts(), directory, {"tried"}, EVERY_SERVICE)

    assert decision.provider_id is None
    assert decision.coordinator_id == "coordinator-trafficking"
    assert excluded(decision) == {
        "elsewhere": ["area"],
        "men-only": ["sex"],
        "older-only": ["age"],
        "full": ["capacity"],
        "suspended": ["suspended"],
        "tried": ["already_tried"],
        "everything-wrong": ["area", "sex", "age", "capacity"],
    }
    assert decision.reasons.not_offering == 2


def test_children_go_only_to_child_appropriate_providers() -> None:
    directory = view(
        provider("a-adults"), provider("b-children", eligibility={"child_appropriate": True})
    )

    decision = route("shelter", facts(age_band="12-17"), directory, set(), EVERY_SERVICE)

    assert decision.provider_id == "b-children"
    assert excluded(decision) == {"a-adults": ["child_appropriate"]}
    assert "child_appropriate" in decision.reasons.matched


def test_the_whole_age_band_must_fit_and_unknown_age_fits_only_providers_without_limits() -> None:
    directory = view(
        provider("a-from-14", eligibility={"min_age": 14, "child_appropriate": True}),
        provider("b-any-age"),
    )

    assert excluded(route("shelter", facts(age_band="12-17"), directory, set(), EVERY_SERVICE))[
        "a-from-14"
    ] == ["age"]
    unknown = route("shelter", facts(age_band="unknown"), directory, set(), EVERY_SERVICE)
    assert unknown.provider_id == "b-any-age"
    assert excluded(unknown) == {"a-from-14": ["age"]}


def test_a_provider_with_room_left_is_used_and_capacity_none_never_fills() -> None:
    directory = view(provider("a-one-bed-left", capacity=3), provider("b-unlimited"))
    directory = view(*directory.providers.values(), in_use={"a-one-bed-left": 2, "b-unlimited": 99})

    assert (
        route("shelter", facts(), directory, set(), EVERY_SERVICE).provider_id == "a-one-bed-left"
    )
    full = view(*directory.providers.values(), in_use={"a-one-bed-left": 3, "b-unlimited": 99})
    assert route("shelter", facts(), full, set(), EVERY_SERVICE).provider_id == "b-unlimited"


def test_consent_covers_by_service_type_or_by_provider_id() -> None:
    directory = view(provider("a-not-named"), provider("b-named"))

    by_id = route("shelter", facts(), directory, set(), consent(provider_ids=["b-named"]))
    by_type = route("shelter", facts(), directory, set(), consent(service_types=["shelter"]))
    other_type = route("shelter", facts(), directory, set(), consent(service_types=["legal_aid"]))

    assert (by_id.provider_id, by_id.reasons.consent_basis) == ("b-named", "provider_id")
    assert excluded(by_id) == {"a-not-named": ["consent"]}
    assert (by_type.provider_id, by_type.reasons.consent_basis) == ("a-not-named", "service_type")
    assert other_type.provider_id is None


def test_an_emergency_without_consent_bypasses_consent_and_says_so() -> None:
    directory = view(provider("a-shelter"))
    nothing = consent(consent_id=None)

    refused = route("shelter", facts(), directory, set(), nothing)
    emergency = route("shelter", facts(), directory, set(), nothing, emergency_without_consent=True)

    assert refused.provider_id is None
    assert emergency.provider_id == "a-shelter"
    assert emergency.reasons.consent_basis == "emergency_without_consent"
    assert "WITHOUT consent" in emergency.reasons.summary


def test_an_expired_consent_covers_no_one() -> None:
    expired = consent(service_types=["shelter"], expires_at=NOW - timedelta(seconds=1))
    current = consent(service_types=["shelter"], expires_at=NOW + timedelta(days=1))

    assert consent_in_force(expired, NOW).service_types == []
    assert consent_in_force(current, NOW) == current


def test_a_person_in_several_categories_reaches_providers_of_each() -> None:
    directory = view(provider("a-refugee-shelter", categories=["refugee_asylum"]))

    decision = route(
        "shelter",
        facts(categories=("trafficking", "refugee_asylum")),
        directory,
        set(),
        EVERY_SERVICE,
    )

    assert decision.provider_id == "a-refugee-shelter"


def test_the_unroutable_coordinator_is_the_one_of_the_first_category() -> None:
    decision = route(
        "shelter",
        facts(categories=("refugee_asylum", "trafficking")),
        view(),
        set(),
        EVERY_SERVICE,
    )

    assert decision.coordinator_id == "coordinator-refugee-asylum"


def test_urgent_medical_and_shelter_needs_come_first() -> None:
    needs = ["legal_aid", "shelter", "psychosocial", "medical_emergency", "medical"]

    assert order_needs(needs, "emergency") == [
        "medical_emergency",
        "medical",
        "shelter",
        "legal_aid",
        "psychosocial",
    ]
    assert order_needs(needs, "urgent")[:3] == ["medical_emergency", "medical", "shelter"]
    assert order_needs(needs, "routine") == needs


def test_same_inputs_same_decision() -> None:
    directory = view(provider("b"), provider("a"), provider("c", area={"nationwide": True}))

    first = route("shelter", facts(), directory, {"a"}, EVERY_SERVICE)
    again = route("shelter", facts(), directory, {"a"}, EVERY_SERVICE)

    assert first == again
    assert first.provider_id == "b"
