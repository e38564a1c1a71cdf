"""Who hears what: each referral event reaches the right recipient, in their language."""

from __future__ import annotations

from services.notify.domain.recipients import Contact, who_hears_what
from tests.unit.notify.builders import CASE_ID, REFERRAL_ID, FakeDirectory, directory, routed


def test_a_routed_referral_goes_to_the_chosen_provider_in_its_language_on_its_channels() -> None:
    [plan] = who_hears_what("org.safepath.referral.ReferralRouted.v1", routed(), directory())

    assert plan.recipient_kind == "provider"
    assert plan.recipient_id == "women-and-society-shelter-buston"
    assert plan.template == "new_referral"
    assert plan.language == "tg"
    assert plan.channels == ("nats", "webhook")
    assert plan.facts.referral_id == REFERRAL_ID
    assert plan.facts.needs == ("shelter",)


def test_a_provider_without_a_webhook_hears_over_nats_only() -> None:
    data = routed(provider_id="femida-shelter-dushanbe")
    [plan] = who_hears_what("ReferralRouted", data, directory())
    assert (plan.language, plan.channels) == ("ru", ("nats",))


def test_a_provider_missing_from_the_directory_still_hears_in_english() -> None:
    [plan] = who_hears_what("ReferralRouted", routed(provider_id="umed-network"), FakeDirectory())
    assert (plan.recipient_id, plan.language, plan.channels) == ("umed-network", "en", ("nats",))


def test_an_unroutable_referral_goes_to_the_coordinator_it_names() -> None:
    data = routed(coordinator_id="imcctip-secretariat")
    del data["provider_id"]
    [plan] = who_hears_what("org.safepath.referral.ReferralUnroutable.v1", data, directory())
    assert plan.recipient_kind == "coordinator"
    assert (plan.recipient_id, plan.language) == ("imcctip-secretariat", "ru")
    assert plan.template == "referral_unroutable"


def test_an_escalated_referral_goes_to_each_categorys_coordinator() -> None:
    # ReferralEscalated does not repeat the routing facts: the caller merges them in.
    escalated = {"referral_id": REFERRAL_ID, "case_id": CASE_ID, "provider_id": "femida"}
    data = {**routed(categories=["trafficking", "refugee_asylum"]), **escalated}

    plans = who_hears_what("ReferralEscalated", data, directory())

    assert [(p.recipient_id, p.language) for p in plans] == [
        ("imcctip-secretariat", "ru"),
        ("migration-service", "tg"),
    ]
    assert {p.template for p in plans} == {"referral_escalated"}


def test_provider_answers_and_completion_go_to_the_cases_caseworker() -> None:
    for event, template in [
        ("ReferralAccepted", "referral_accepted"),
        ("ReferralDeclined", "referral_declined"),
        ("ServiceCompleted", "service_completed"),
    ]:
        [plan] = who_hears_what(event, routed(), directory())
        assert (plan.recipient_kind, plan.recipient_id) == ("caseworker", "cw-dushanbe-07")
        assert plan.template == template


def test_a_case_without_a_known_caseworker_is_addressed_by_case_id() -> None:
    [plan] = who_hears_what("ReferralAccepted", routed(), FakeDirectory())
    assert (plan.recipient_kind, plan.recipient_id, plan.language) == ("caseworker", CASE_ID, "en")


def test_other_events_notify_nobody() -> None:
    for event in ("ServiceStarted", "ReferralWithdrawn", "org.safepath.case.CaseOpened.v1"):
        assert who_hears_what(event, routed(), directory()) == []


def test_a_coordinator_for_two_categories_hears_once() -> None:
    shared = Contact("national-coordinator", "tg")
    one_for_all = FakeDirectory(coordinators={"trafficking": shared, "mine_eo": shared})
    data = routed(categories=["trafficking", "mine_eo"])
    plans = who_hears_what("ReferralUnroutable", data, one_for_all)
    assert [p.recipient_id for p in plans] == ["national-coordinator"]
