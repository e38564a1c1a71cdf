"""Who hears what: each referral event reaches the right recipient, in their language."""

from __future__ import annotations

from services.notify.domain.recipients import Contact
from shared.events.case import CaseOpened
from shared.events.referral import (
    ReferralAccepted,
    ReferralDeclined,
    ReferralEscalated,
    ReferralWithdrawn,
    ServiceCompleted,
    ServiceStarted,
)
from tests.unit.notify.builders import (
    CASE_ID,
    REFERRAL_ID,
    FakeDirectory,
    directory,
    facts,
    hear,
    routed,
    unroutable,
)

PROVIDER = "women-and-society-shelter-buston"


def test_a_routed_referral_goes_to_the_chosen_provider_in_its_language_on_its_channels() -> None:
    [plan] = hear(routed(), directory())

    assert plan.recipient_kind == "provider"
    assert plan.recipient_id == PROVIDER
    assert plan.template == "new_referral"
    assert plan.language == "tg"
    assert plan.channels == ("nats", "webhook")
    assert plan.facts.referral_id == REFERRAL_ID
    assert plan.facts.needs == ("shelter",)


def test_a_provider_without_a_webhook_hears_over_nats_only() -> None:
    [plan] = hear(routed(provider_id="femida-shelter-dushanbe"), directory())
    assert (plan.language, plan.channels) == ("ru", ("nats",))


def test_a_provider_missing_from_the_directory_still_hears_in_english() -> None:
    [plan] = hear(routed(provider_id="umed-network"), FakeDirectory())
    assert (plan.recipient_id, plan.language, plan.channels) == ("umed-network", "en", ("nats",))


def test_an_unroutable_referral_goes_to_the_coordinator_it_names() -> None:
    [plan] = hear(unroutable(coordinator_id="imcctip-secretariat"), directory())
    assert plan.recipient_kind == "coordinator"
    assert (plan.recipient_id, plan.language) == ("imcctip-secretariat", "ru")
    assert plan.template == "referral_unroutable"
    assert plan.facts.provider_id is None


def test_an_escalated_referral_goes_to_each_categorys_coordinator() -> None:
    # ReferralEscalated does not repeat the routing facts: they come from the last attempt.
    escalated = ReferralEscalated(
        referral_id=REFERRAL_ID,
        case_id=CASE_ID,
        provider_id="femida",
        deadline="2026-11-23T10:00:00Z",  # type: ignore[arg-type]
    )
    attempt = facts(categories=("trafficking", "refugee_asylum"))

    plans = hear(escalated, directory(), attempt)

    assert [(p.recipient_id, p.language) for p in plans] == [
        ("imcctip-secretariat", "ru"),
        ("migration-service", "tg"),
    ]
    assert {p.template for p in plans} == {"referral_escalated"}
    assert {p.facts.provider_id for p in plans} == {"femida"}


def test_provider_answers_and_completion_go_to_the_cases_caseworker() -> None:
    ids = {"referral_id": REFERRAL_ID, "case_id": CASE_ID, "provider_id": PROVIDER}
    for event, template in [
        (ReferralAccepted(**ids), "referral_accepted"),
        (ReferralDeclined(**ids, reason_code="no_capacity"), "referral_declined"),
        (ServiceCompleted(**ids), "service_completed"),
    ]:
        [plan] = hear(event, directory())
        assert (plan.recipient_kind, plan.recipient_id) == ("caseworker", "cw-dushanbe-07")
        assert plan.template == template
        assert plan.facts.region == "sughd"  # the last attempt's facts


def test_a_case_without_a_known_caseworker_is_addressed_by_case_id() -> None:
    accepted = ReferralAccepted(referral_id=REFERRAL_ID, case_id=CASE_ID, provider_id=PROVIDER)
    [plan] = hear(accepted, FakeDirectory())
    assert (plan.recipient_kind, plan.recipient_id, plan.language) == ("caseworker", CASE_ID, "en")


def test_other_events_notify_nobody() -> None:
    ids = {"referral_id": REFERRAL_ID, "case_id": CASE_ID}
    for event in (
        ServiceStarted(**ids, provider_id=PROVIDER),
        ReferralWithdrawn(**ids, provider_id=PROVIDER, cause="case_closed"),
        CaseOpened(caseworker="cw-1", region="sughd", categories=["trafficking"]),
    ):
        assert hear(event, directory()) == []


def test_a_coordinator_for_two_categories_hears_once() -> None:
    shared = Contact("national-coordinator", "tg")
    one_for_all = FakeDirectory(coordinators={"trafficking": shared, "mine_eo": shared})
    escalated = ReferralEscalated(
        referral_id=REFERRAL_ID,
        case_id=CASE_ID,
        provider_id=PROVIDER,
        deadline="2026-11-23T10:00:00Z",  # type: ignore[arg-type]
    )
    plans = hear(escalated, one_for_all, facts(categories=("trafficking", "mine_eo")))
    assert [p.recipient_id for p in plans] == ["national-coordinator"]
