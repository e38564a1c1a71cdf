"""Properties of routing over random directories, checked against a plain restatement."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.referral.domain.directory_view import DirectoryView
from services.referral.domain.routing import RoutingFacts, route
from shared.events.case import ConsentScope
from shared.events.referral import Provider
from shared.events.vocabulary import (
    AGE_BANDS,
    CATEGORIES,
    DISTRICTS,
    LANGUAGES,
    REGIONS,
)

from .builders import COORDINATORS, consent

NEEDS = ("shelter", "legal_aid", "medical")  # few, so that candidates often compete
SEXES = ("female", "male", "other", "unknown")
ALL_DISTRICTS = tuple(d for ds in DISTRICTS.values() for d in ds)
BAND_YEARS = {
    "0-4": (0, 4),
    "5-11": (5, 11),
    "12-17": (12, 17),
    "18-24": (18, 24),
    "25-39": (25, 39),
    "40-59": (40, 59),
    "60+": (60, 130),
}
IDS = [f"p{i:02d}" for i in range(12)]


def subset(values: tuple[str, ...], min_size: int = 0) -> st.SearchStrategy[list[str]]:
    return st.lists(st.sampled_from(values), min_size=min_size, max_size=3, unique=True)


@st.composite
def providers(draw: st.DrawFn, provider_id: str) -> Provider:
    nationwide = draw(st.booleans())
    regions = draw(subset(REGIONS))
    districts = draw(subset(ALL_DISTRICTS))
    if not (nationwide or regions or districts):
        nationwide = True
    min_age = draw(st.none() | st.integers(0, 70))
    max_age = draw(st.none() | st.integers(min_age or 0, 90))
    child_appropriate = draw(st.booleans()) or (max_age is not None and max_age < 18)
    return Provider.model_validate(
        {
            "id": provider_id,
            "name": {"en": provider_id},
            "org_type": "ngo",
            "area": {"nationwide": nationwide, "regions": regions, "districts": districts},
            "categories": draw(subset(CATEGORIES, 1)),
            "services": draw(subset(NEEDS, 1)),
            "eligibility": {
                "sexes": draw(st.none() | subset(SEXES, 1)),
                "min_age": min_age,
                "max_age": max_age,
                "child_appropriate": child_appropriate,
            },
            "languages": draw(subset(LANGUAGES, 1)),
            "capacity": draw(st.none() | st.integers(0, 3)),
            "contact": {"subject": provider_id},
        }
    )


@st.composite
def directories(draw: st.DrawFn) -> DirectoryView:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=len(IDS)))
    entries = {pid: draw(providers(pid)) for pid in ids}
    return DirectoryView(
        providers=entries,
        coordinators=COORDINATORS,
        suspended=frozenset(draw(st.lists(st.sampled_from(IDS), max_size=3))),
        in_use={pid: draw(st.integers(0, 4)) for pid in draw(subset(tuple(IDS)))},
    )


@st.composite
def people(draw: st.DrawFn) -> RoutingFacts:
    region = draw(st.sampled_from(REGIONS))
    return RoutingFacts(
        categories=tuple(draw(subset(CATEGORIES, 1))),
        region=region,
        district=draw(st.none() | st.sampled_from(DISTRICTS[region])),
        sex=draw(st.sampled_from(SEXES)),
        age_band=draw(st.sampled_from(AGE_BANDS)),
        language=draw(st.sampled_from(LANGUAGES)),
        disability=draw(st.booleans()),
    )


consents = st.builds(
    lambda types, ids: consent(service_types=types, provider_ids=ids),
    subset(NEEDS),
    st.lists(st.sampled_from(IDS), max_size=4, unique=True),
)


def eligible(
    p: Provider,
    need: str,
    person: RoutingFacts,
    directory: DirectoryView,
    tried: set[str],
    scope: ConsentScope,
    emergency: bool,
) -> bool:
    """The policy restated plainly, independent of the routing module."""
    rules = p.eligibility
    years = BAND_YEARS.get(person.age_band)
    if years is None:
        age_ok = rules.min_age is None and rules.max_age is None
    else:
        age_ok = (rules.min_age is None or rules.min_age <= years[0]) and (
            rules.max_age is None or years[1] <= rules.max_age
        )
    is_child = years is not None and years[1] < 18
    return (
        any(c in p.categories for c in person.categories)
        and need in p.services
        and (
            p.area.nationwide
            or person.region in p.area.regions
            or (person.district is not None and person.district in p.area.districts)
        )
        and (rules.sexes is None or person.sex in rules.sexes)
        and age_ok
        and (rules.child_appropriate or not is_child)
        and (p.capacity is None or directory.in_use.get(p.id, 0) < p.capacity)
        and (emergency or need in scope.service_types or p.id in scope.provider_ids)
        and p.id not in directory.suspended
        and p.id not in tried
    )


@settings(max_examples=150, deadline=None)
@given(
    directory=directories(),
    person=people(),
    need=st.sampled_from(NEEDS),
    tried=st.sets(st.sampled_from(IDS), max_size=4),
    scope=consents,
    emergency=st.booleans(),
)
def test_routing_picks_an_eligible_provider_whenever_there_is_one(
    directory: DirectoryView,
    person: RoutingFacts,
    need: str,
    tried: set[str],
    scope: ConsentScope,
    emergency: bool,
) -> None:
    decision = route(need, person, directory, tried, scope, emergency_without_consent=emergency)  # type: ignore[arg-type]

    suitable = [
        p
        for p in directory.providers.values()
        if eligible(p, need, person, directory, tried, scope, emergency)
    ]
    if decision.provider_id is None:
        assert suitable == []
        assert decision.coordinator_id == COORDINATORS[person.categories[0]].id
    else:
        chosen = directory.providers[decision.provider_id]
        assert chosen in suitable
        assert decision.provider_id not in tried
    # Every candidate the decision excludes really fails a rule, and no suitable one is hidden.
    excluded = {c.provider_id for c in decision.reasons.excluded}
    assert not excluded & {p.id for p in suitable}
    listed = excluded | {c.provider_id for c in decision.reasons.passed_over}
    assert listed | {decision.provider_id} >= {p.id for p in suitable}


@settings(max_examples=100, deadline=None)
@given(directory=directories(), person=people(), need=st.sampled_from(NEEDS))
def test_declining_again_and_again_never_repeats_a_provider(
    directory: DirectoryView, person: RoutingFacts, need: str
) -> None:
    tried: set[str] = set()
    emergency = consent(consent_id=None)
    while True:
        decision = route(need, person, directory, tried, emergency, emergency_without_consent=True)  # type: ignore[arg-type]
        if decision.provider_id is None:
            break
        assert decision.provider_id not in tried
        tried.add(decision.provider_id)
        assert len(tried) <= len(directory.providers)
