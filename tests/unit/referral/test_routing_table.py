"""Routing over the default Tajikistan directory, on cases drawn from the domain primer."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from services.referral.domain.routing import RoutingFacts, route
from shared.events.vocabulary import ServiceType

from .builders import EVERY_SERVICE, default_view, facts


@dataclass(frozen=True)
class Case:
    story: str
    need: ServiceType
    person: RoutingFacts
    expected: set[str] | None  # acceptable provider ids; None = unroutable
    coordinator: str | None = None
    in_use: dict[str, int] = field(default_factory=dict)


UNHCR_PARTNERS = {
    "rights-and-prosperity",
    "refugee-children-and-vulnerable-citizens",
    "consortium-initiatives",
}
LEGAL_AID_CENTRES = {"legal-aid-centres-sughd"}

WOMAN_TRAFFICKED_IN_SUGHD = facts(categories=("trafficking",), region="sughd", district="khujand")
CHILD_MINE_SURVIVOR_IN_GBAO = facts(
    categories=("mine_eo",), region="gbao", district="shugnon", sex="male", age_band="5-11"
)
AFGHAN_ASYLUM_SEEKER_IN_DUSHANBE = facts(
    categories=("refugee_asylum",),
    region="dushanbe",
    district="dushanbe",
    sex="male",
    language="other",
)

CASES = [
    Case(
        "woman trafficked for sexual exploitation in Sughd needs shelter",
        "shelter",
        WOMAN_TRAFFICKED_IN_SUGHD,
        {"women-and-society-shelter-buston"},
    ),
    Case(
        "the same woman needs legal aid",
        "legal_aid",
        WOMAN_TRAFFICKED_IN_SUGHD,
        LEGAL_AID_CENTRES,
    ),
    Case(
        "child mine survivor in GBAO needs a prosthesis",
        "prosthetics_orthotics",
        CHILD_MINE_SURVIVOR_IN_GBAO,
        {"prosthetic-orthopaedic-centre-khorog"},
    ),
    Case(
        "Afghan asylum seeker in Dushanbe needs legal assistance on asylum",
        "asylum_legal",
        AFGHAN_ASYLUM_SEEKER_IN_DUSHANBE,
        UNHCR_PARTNERS,
    ),
    Case(
        "no shelter in GBAO: a trafficked woman there goes to the national shelter in Dushanbe",
        "shelter",
        facts(region="gbao", district="khorog"),
        {"femida-shelter-dushanbe"},
    ),
    Case(
        "no orthopaedic branch in DRS: a mine survivor in Garm goes to the Dushanbe centre",
        "prosthetics_orthotics",
        facts(categories=("mine_eo",), region="drs", district="garm", sex="male"),
        {"prosthetic-orthopaedic-centre-dushanbe"},
    ),
    Case(
        "nobody offers prostheses to refugees: unroutable, the Migration Service is alerted",
        "prosthetics_orthotics",
        AFGHAN_ASYLUM_SEEKER_IN_DUSHANBE,
        None,
        coordinator="migration-service",
    ),
    Case(
        "no child-appropriate shelter: a trafficked girl is unroutable, IMCCTiP is alerted",
        "shelter",
        facts(age_band="12-17"),
        None,
        coordinator="imcctip-secretariat",
    ),
    Case(
        "the Buston shelter is full: the woman goes to the next shelter",
        "shelter",
        WOMAN_TRAFFICKED_IN_SUGHD,
        {"femida-shelter-dushanbe"},
        in_use={"women-and-society-shelter-buston": 12},
    ),
    Case(
        "a mine survivor in Garm needing an assistive product goes to the DRS one-stop shop",
        "assistive_technology",
        facts(categories=("mine_eo",), region="drs", district="garm"),
        {"who-assistive-products-rasht"},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.story for c in CASES])
def test_routing_follows_the_national_referral_mechanism(case: Case) -> None:
    decision = route(case.need, case.person, default_view(case.in_use), set(), EVERY_SERVICE)

    if case.expected is None:
        assert decision.provider_id is None
        assert decision.coordinator_id == case.coordinator
        assert decision.reasons.matched == []
        assert "alerted" in decision.reasons.summary
    else:
        assert decision.provider_id in case.expected
        assert decision.coordinator_id is None
        assert decision.provider_id in decision.reasons.summary


def test_a_full_shelter_is_excluded_for_capacity_and_says_so() -> None:
    decision = route(
        "shelter",
        WOMAN_TRAFFICKED_IN_SUGHD,
        default_view({"women-and-society-shelter-buston": 12}),
        set(),
        EVERY_SERVICE,
    )

    excluded = {c.provider_id: c.failed for c in decision.reasons.excluded}
    assert excluded == {"women-and-society-shelter-buston": ["capacity"]}
    assert decision.reasons.proximity == "nationwide"


def test_the_nearer_shelter_wins_and_the_national_one_is_passed_over() -> None:
    decision = route("shelter", WOMAN_TRAFFICKED_IN_SUGHD, default_view(), set(), EVERY_SERVICE)

    assert decision.reasons.proximity == "region"
    assert [c.provider_id for c in decision.reasons.passed_over] == ["femida-shelter-dushanbe"]
    assert decision.reasons.passed_over[0].proximity == "nationwide"
