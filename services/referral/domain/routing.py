"""The routing policy: choose one provider for one need, and record why.

Pure and deterministic: the same need, facts, directory view, exclusions and consent
always give the same decision. See docs/routing.md for the policy in plain language.

A *candidate* is a provider that serves one of the person's categories and offers the
needed service. Every candidate is checked against every rule; those failing any rule are
excluded (each with all the rules it failed). The rest are ranked: nearest first
(district, then region, then nationwide), then those speaking the person's language, then
by id. Providers that are not candidates are only counted (``not_offering``), so a
decision over a large directory stays small.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from services.referral.domain.directory_view import DirectoryView
from shared.events.case import ConsentScope
from shared.events.referral import (
    ConsentBasis,
    ExcludedCandidate,
    Provider,
    Proximity,
    RankedCandidate,
    RoutingReasons,
    Rule,
)
from shared.events.vocabulary import (
    AgeBand,
    Category,
    Language,
    Region,
    ServiceType,
    Sex,
    Urgency,
    age_band_bounds,
    is_child_band,
)

_PROXIMITY_RANK: dict[Proximity, int] = {"district": 0, "region": 1, "nationwide": 2}
# Life and safety first: within an urgent request these needs are routed before the rest.
_FIRST_WHEN_URGENT: tuple[ServiceType, ...] = ("medical_emergency", "medical", "shelter")
_URGENCY_RANK: dict[Urgency, int] = {"emergency": 0, "urgent": 1, "routine": 2}


@dataclass(frozen=True)
class RoutingFacts:
    """What routing may know about the person: no names, no dates, no contacts."""

    categories: tuple[Category, ...]
    region: Region
    district: str | None
    sex: Sex
    age_band: AgeBand
    language: Language
    disability: bool
    interpreter_needed: bool = False  # the person asked for one (profile flag)


def interpreter_needed(facts: RoutingFacts, language_match: bool | None) -> bool:
    """Whether the provider needs an interpreter: asked for, or it does not speak the language."""
    return facts.interpreter_needed or language_match is False


def interpreter_phrase(facts: RoutingFacts, language_match: bool | None) -> str:
    """The reasons' words on interpreting ("" when none is needed)."""
    if facts.interpreter_needed:
        return f"; interpreter needed ({facts.language}): the person asked for one"
    if language_match is False:
        return f"; interpreter needed: the provider does not speak {facts.language}"
    return ""


@dataclass(frozen=True)
class RoutingDecision:
    """The chosen provider (None = unroutable), the reasons, and whom to alert if none."""

    provider_id: str | None
    reasons: RoutingReasons
    coordinator_id: str | None  # set only when unroutable (None if the directory has none)


def route(
    need: ServiceType,
    facts: RoutingFacts,
    directory: DirectoryView,
    excluded_provider_ids: Collection[str],
    consent: ConsentScope,
    *,
    emergency_without_consent: bool = False,
) -> RoutingDecision:
    """Choose a provider for ``need``; never one in ``excluded_provider_ids`` (already tried).

    ``consent`` must already be the consent in force (an expired one covers nothing);
    ``emergency_without_consent`` lets the consent rule pass and the reasons say so.
    """
    suitable: list[tuple[tuple[int, int, str], RankedCandidate, ConsentBasis]] = []
    excluded: list[ExcludedCandidate] = []
    not_offering = 0
    for provider in sorted(directory.providers.values(), key=lambda p: p.id):
        if not set(provider.categories) & set(facts.categories) or need not in provider.services:
            not_offering += 1
            continue
        failed = failed_rules(
            provider,
            need,
            facts,
            directory,
            excluded_provider_ids,
            consent,
            emergency_without_consent,
        )
        near = proximity(provider, facts)
        basis = consent_basis(provider, need, consent, emergency_without_consent)
        if failed or near is None or basis is None:
            excluded.append(ExcludedCandidate(provider_id=provider.id, failed=failed))
            continue
        speaks = facts.language in provider.languages
        rank = (_PROXIMITY_RANK[near], 0 if speaks else 1, provider.id)
        suitable.append(
            (
                rank,
                RankedCandidate(provider_id=provider.id, proximity=near, language_match=speaks),
                basis,
            )
        )
    suitable.sort(key=lambda s: s[0])
    if not suitable:
        coordinator = _coordinator(facts, directory)
        return RoutingDecision(
            None, _unroutable_reasons(need, facts, excluded, not_offering, coordinator), coordinator
        )
    _, chosen, basis = suitable[0]
    matched: list[Rule] = ["category", "service", "area", "sex", "age"]
    if is_child_band(facts.age_band):
        matched.append("child_appropriate")
    matched += ["capacity", "consent", "suspended", "already_tried"]
    reasons = RoutingReasons(
        matched=matched,
        proximity=chosen.proximity,
        language_match=chosen.language_match,
        interpreter_needed=interpreter_needed(facts, chosen.language_match),
        consent_basis=basis,
        passed_over=[c for _, c, _ in suitable[1:]],
        excluded=excluded,
        not_offering=not_offering,
        summary=_chosen_summary(
            need, facts, chosen, basis, len(suitable) - 1, excluded, not_offering
        ),
    )
    return RoutingDecision(chosen.provider_id, reasons, None)


def failed_rules(
    provider: Provider,
    need: ServiceType,
    facts: RoutingFacts,
    directory: DirectoryView,
    excluded_provider_ids: Collection[str],
    consent: ConsentScope,
    emergency_without_consent: bool = False,
) -> list[Rule]:
    """Every rule ``provider`` fails for this need and person, in policy order."""
    failed: list[Rule] = []
    if not set(provider.categories) & set(facts.categories):
        failed.append("category")
    if need not in provider.services:
        failed.append("service")
    if proximity(provider, facts) is None:
        failed.append("area")
    rules = provider.eligibility
    if rules.sexes is not None and facts.sex not in rules.sexes:
        failed.append("sex")
    if not _fits_age(rules.min_age, rules.max_age, facts.age_band):
        failed.append("age")
    if is_child_band(facts.age_band) and not rules.child_appropriate:
        failed.append("child_appropriate")
    if provider.capacity is not None and directory.in_use.get(provider.id, 0) >= provider.capacity:
        failed.append("capacity")
    if consent_basis(provider, need, consent, emergency_without_consent) is None:
        failed.append("consent")
    if provider.id in directory.suspended:
        failed.append("suspended")
    if provider.id in excluded_provider_ids:
        failed.append("already_tried")
    return failed


def proximity(provider: Provider, facts: RoutingFacts) -> Proximity | None:
    """How near the provider is to the person (None: does not serve where they are)."""
    if facts.district is not None and facts.district in provider.area.districts:
        return "district"
    if facts.region in provider.area.regions:
        return "region"
    if provider.area.nationwide:
        return "nationwide"
    return None


def consent_basis(
    provider: Provider, need: ServiceType, consent: ConsentScope, emergency_without_consent: bool
) -> ConsentBasis | None:
    """What lets this provider receive the referral (None: the consent does not cover it)."""
    if need in consent.service_types:
        return "service_type"
    if provider.id in consent.provider_ids:
        return "provider_id"
    if emergency_without_consent:
        return "emergency_without_consent"
    return None


def order_needs(needs: Sequence[ServiceType], urgency: Urgency) -> list[ServiceType]:
    """The order to route a request's needs: medical and shelter first when urgent."""
    if urgency == "routine":
        return list(needs)
    first = _FIRST_WHEN_URGENT
    return sorted(needs, key=lambda n: first.index(n) if n in first else len(first))


def urgency_rank(urgency: Urgency) -> int:
    """Sort key for a queue of requests: emergency (0) before urgent (1) before routine."""
    return _URGENCY_RANK[urgency]


def _fits_age(min_age: int | None, max_age: int | None, band: AgeBand) -> bool:
    # The whole band must lie within the provider's range: a 12-17 band does not fit a
    # 14+ provider. An unknown age fits only a provider without age limits.
    bounds = age_band_bounds(band)
    if bounds is None:
        return min_age is None and max_age is None
    low, high = bounds
    return (min_age is None or low >= min_age) and (max_age is None or high <= max_age)


def coordinator_for(facts: RoutingFacts, directory: DirectoryView) -> str | None:
    """The coordinator alerted about the person's referrals (None if the directory has none)."""
    return _coordinator(facts, directory)


def _coordinator(facts: RoutingFacts, directory: DirectoryView) -> str | None:
    # The person's first category (the case's primary one) decides who is alerted.
    for category in facts.categories:
        if category in directory.coordinators:
            return directory.coordinators[category].id
    return None


_NEAR_PHRASE: dict[Proximity, str] = {
    "district": "has a site in the person's district",
    "region": "serves the person's region",
    "nationwide": "serves nationwide (no nearer suitable provider)",
}
_CONSENT_PHRASE: dict[ConsentBasis, str] = {
    "service_type": "covered by consent for this service type",
    "provider_id": "covered by consent naming this provider",
    "emergency_without_consent": "sent WITHOUT consent under the emergency rule",
}


def _chosen_summary(
    need: ServiceType,
    facts: RoutingFacts,
    chosen: RankedCandidate,
    basis: ConsentBasis,
    others: int,
    excluded: list[ExcludedCandidate],
    not_offering: int,
) -> str:
    where = facts.district if chosen.proximity == "district" else facts.region
    language = (
        f"speaks {facts.language}" if chosen.language_match else f"does not speak {facts.language}"
    )
    return (
        f"{chosen.provider_id} chosen for {need}: serves {'/'.join(facts.categories)}, "
        f"{_NEAR_PHRASE[chosen.proximity]}"
        f"{f' ({where})' if chosen.proximity != 'nationwide' else ''}, fits sex and age, "
        f"{language}, has capacity, {_CONSENT_PHRASE[basis]}; {others} other suitable, "
        f"{len(excluded)} excluded{_rule_counts(excluded)}, {not_offering} not offering it"
        f"{interpreter_phrase(facts, chosen.language_match)}"
    )


def _unroutable_reasons(
    need: ServiceType,
    facts: RoutingFacts,
    excluded: list[ExcludedCandidate],
    not_offering: int,
    coordinator: str | None,
) -> RoutingReasons:
    summary = (
        f"no provider can take {need}: {len(excluded)} candidates excluded"
        f"{_rule_counts(excluded)}, {not_offering} do not serve "
        f"{'/'.join(facts.categories)} with {need}; coordinator {coordinator or 'none'} alerted"
        f"{interpreter_phrase(facts, None)}"
    )
    return RoutingReasons(
        matched=[],
        proximity=None,
        language_match=None,
        interpreter_needed=interpreter_needed(facts, None),
        consent_basis=None,
        passed_over=[],
        excluded=excluded,
        not_offering=not_offering,
        summary=summary,
    )


def _rule_counts(excluded: list[ExcludedCandidate]) -> str:
    counts = Counter(rule for candidate in excluded for rule in candidate.failed)
    if not counts:
        return ""
    return " (" + ", ".join(f"{rule}: {n}" for rule, n in sorted(counts.items())) + ")"
