"""A need left unmet (issue 13 item 6): the case's caseworker hears the coordinator's
decision in their language, with the case reference, the need and the reason code only."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from services.notify.domain.notification import Notification
from services.notify.domain.payload import NotShareable, build_notification, case_reference
from services.notify.domain.recipients import Contact, who_hears_what
from services.notify.domain.referral_facts import NOTIFIED_EVENTS, facts_of_attempt, facts_of_unmet
from services.notify.templates import load_templates
from shared.events.referral import ReferralClosedUnmet
from tests.unit.notify.builders import (
    CASE_ID,
    CASE_KEY,
    PLANTED,
    REFERRAL_ID,
    directory,
    unroutable,
    with_planted_identity,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TEMPLATES = load_templates()
CLOSED = ReferralClosedUnmet(
    referral_id=REFERRAL_ID,
    case_id=CASE_ID,
    need="shelter",
    reason_code="no_provider_in_region",
    decided_by="imcctip-officer-2",
    coordinator_id="imcctip-secretariat",
)


def _notification(language: str = "en") -> dict[str, object]:
    lookup = directory()
    lookup.caseworkers[CASE_ID] = Contact("cw-dushanbe-07", language)
    facts = facts_of_unmet(CLOSED, facts_of_attempt(unroutable()))
    [plan] = who_hears_what(CLOSED, facts, lookup)
    assert (plan.recipient_kind, plan.recipient_id, plan.template) == (
        "caseworker",
        "cw-dushanbe-07",
        "need_unmet",
    )
    return build_notification(
        plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
    )


def test_the_caseworker_alone_hears_it() -> None:
    assert ReferralClosedUnmet in NOTIFIED_EVENTS
    facts = facts_of_unmet(CLOSED, facts_of_attempt(unroutable()))
    plans = who_hears_what(CLOSED, facts, directory())
    assert [(p.recipient_kind, p.recipient_id) for p in plans] == [("caseworker", "cw-dushanbe-07")]


def test_it_carries_the_case_reference_the_need_and_the_reason_code_only() -> None:
    ce = _notification()
    Notification.model_validate(ce)  # the published schema
    data = ce["data"]
    assert isinstance(data, dict)
    assert set(data) == {
        "kind",
        "referral_id",
        "case_reference",
        "needs",
        "reason_code",
        "actions",
        "message",
    }
    assert (data["kind"], data["reason_code"], data["needs"]) == (
        "need_unmet",
        "no_provider_in_region",
        ["shelter"],
    )
    assert data["case_reference"] == case_reference(CASE_KEY, CASE_ID)
    assert ce["type"] == "org.safepath.notify.CaseworkerNotification.v1"
    text = json.dumps(ce, ensure_ascii=False)
    assert CASE_ID not in text and "imcctip-officer-2" not in text  # nor who decided
    for leaked in ("sughd", "buston", "18-24", "female"):
        assert leaked not in text  # no routing facts about the person


@pytest.mark.parametrize(
    ("language", "label"),
    [
        ("en", "no provider in the region"),
        ("ru", "в регионе нет поставщика"),
        ("tg", "дар минтақа хизматрасон нест"),
    ],
)
def test_in_the_caseworkers_language_with_the_reason_labelled(language: str, label: str) -> None:
    data = _notification(language)["data"]
    assert isinstance(data, dict)
    assert data["message"]["language"] == language
    assert label in data["message"]["text"] and REFERRAL_ID in data["message"]["text"]


def test_identifying_data_planted_in_the_routing_attempt_never_reaches_it() -> None:
    lookup = directory()
    attempt = facts_of_attempt(with_planted_identity(unroutable()))  # type: ignore[arg-type]
    [plan] = who_hears_what(CLOSED, facts_of_unmet(CLOSED, attempt), lookup)
    ce = build_notification(
        plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
    )
    text = json.dumps(ce, ensure_ascii=False)
    for value in PLANTED:
        assert value not in text


def test_a_reason_outside_the_list_is_refused_naming_the_field_only() -> None:
    facts = replace(facts_of_unmet(CLOSED, facts_of_attempt(unroutable())), unmet_reason=PLANTED[0])
    [plan] = who_hears_what(CLOSED, facts, directory())
    with pytest.raises(NotShareable) as refused:
        build_notification(
            plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
        )
    assert refused.value.field == "reason_code" and PLANTED[0] not in str(refused.value)


def test_other_notifications_carry_no_reason_code() -> None:
    [plan] = who_hears_what(unroutable(), facts_of_attempt(unroutable()), directory())
    ce = build_notification(
        plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
    )
    data = ce["data"]
    assert isinstance(data, dict) and "reason_code" not in data
