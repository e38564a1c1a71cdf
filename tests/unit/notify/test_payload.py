"""The provider's notification: a CloudEvent carrying the allow-listed facts only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.formats.json import JSONFormat

from services.notify.domain.payload import (
    NotShareable,
    build_notification,
    case_reference,
    shareable_facts,
)
from services.notify.domain.recipients import NotificationPlan
from services.notify.templates import load_templates
from shared.events.base import Event
from shared.events.referral import ReferralAccepted
from tests.unit.notify.builders import (
    CASE_ID,
    CASE_KEY,
    PLANTED,
    REFERRAL_ID,
    directory,
    facts,
    hear,
    routed,
    unroutable,
    with_planted_identity,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TEMPLATES = load_templates()
ALLOWED_DATA = {
    "kind",
    "referral_id",
    "case_reference",
    "needs",
    "urgency",
    "categories",
    "region",
    "district",
    "sex",
    "age_band",
    "language",
    "disability",
    "actions",
    "message",
}


def notification_for(event: Event) -> dict[str, object]:
    [plan] = hear(event, directory())
    return build_notification(
        plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
    )


def test_a_new_referral_is_a_structured_cloudevent_for_the_provider() -> None:
    ce = notification_for(routed())

    assert ce["specversion"] == "1.0"
    assert ce["id"] == "n-1"
    assert ce["type"] == "org.safepath.notify.ProviderNotification.v1"
    assert ce["source"] == "safepath/notify"
    assert ce["subject"] == REFERRAL_ID
    assert ce["time"] == "2026-11-23T09:30:00Z"
    # The CloudEvents SDK reads it with strict 1.0 validation.
    event = JSONFormat().read(None, json.dumps(ce).encode())
    assert event.get_id() == "n-1"
    assert event.get_type() == "org.safepath.notify.ProviderNotification.v1"


def test_the_data_carries_exactly_the_allow_listed_facts() -> None:
    data = notification_for(routed())["data"]
    assert isinstance(data, dict)

    assert set(data) == ALLOWED_DATA
    assert data["needs"] == ["shelter"]
    assert (data["urgency"], data["region"], data["district"]) == ("urgent", "sughd", "buston")
    assert (data["sex"], data["age_band"], data["language"]) == ("female", "18-24", "tg")
    assert data["disability"] is False
    assert data["categories"] == ["trafficking"]
    assert data["case_reference"] == case_reference(CASE_KEY, CASE_ID)
    assert data["actions"] == {
        "view": {"method": "GET", "path": f"/referrals/{REFERRAL_ID}"},
        "accept": {"method": "POST", "path": f"/referrals/{REFERRAL_ID}/accept"},
        "decline": {"method": "POST", "path": f"/referrals/{REFERRAL_ID}/decline"},
    }
    assert data["message"]["language"] == "tg"
    assert data["message"]["text"].startswith(f"Равонакунии нав {REFERRAL_ID}")


def test_identifying_data_in_the_referral_event_never_reaches_the_notification() -> None:
    ce = notification_for(with_planted_identity(routed()))

    text = json.dumps(ce, ensure_ascii=False)
    for value in PLANTED:
        assert value not in text
    assert CASE_ID not in text  # the case id travels only as its keyed hash
    assert "reasons" not in text and "consent" not in text


def test_identifying_data_dressed_as_a_routing_fact_is_refused_naming_the_field_only() -> None:
    # The event schema refuses such values before notify sees them; the payload builder
    # refuses them again, on its own.
    name = PLANTED[0]
    [routed_plan] = hear(routed(), directory())
    for field, value in [("district", name), ("region", name), ("sex", name), ("needs", (name,))]:
        plan = NotificationPlan(**{**routed_plan.__dict__, "facts": facts(**{field: value})})
        with pytest.raises(NotShareable) as refused:
            build_notification(
                plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
            )
        assert name not in str(refused.value)


def test_a_district_outside_the_region_is_refused() -> None:
    with pytest.raises(NotShareable, match="district"):
        shareable_facts(facts(district="khorog"), CASE_KEY)


def test_an_identifier_that_is_not_an_id_is_refused() -> None:
    with pytest.raises(NotShareable, match="referral_id"):
        shareable_facts(facts(referral_id="Gulnora Rahimova"), CASE_KEY)


def test_coordinators_and_caseworkers_get_their_own_types_and_no_accept_decline() -> None:
    coordinator = notification_for(unroutable(coordinator_id="nmac"))
    caseworker = notification_for(
        ReferralAccepted(referral_id=REFERRAL_ID, case_id=CASE_ID, provider_id="p-1")
    )

    assert coordinator["type"] == "org.safepath.notify.CoordinatorNotification.v1"
    assert caseworker["type"] == "org.safepath.notify.CaseworkerNotification.v1"
    for ce in (coordinator, caseworker):
        data = ce["data"]
        assert isinstance(data, dict)
        assert set(data["actions"]) == {"view"}


def test_the_same_notification_is_built_identically_on_every_attempt() -> None:
    [plan] = hear(routed(), directory())
    first = build_notification(
        plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
    )
    again = build_notification(
        plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
    )
    assert first == again


def test_time_is_written_in_utc() -> None:
    [plan] = hear(routed(), directory())
    dushanbe = NOW.astimezone(timezone(timedelta(hours=5)))
    ce = build_notification(
        plan, notification_id="n-1", now=dushanbe, case_key=CASE_KEY, templates=TEMPLATES
    )
    assert ce["time"] == "2026-11-23T09:30:00Z"


def test_the_case_reference_is_stable_keyed_and_short() -> None:
    ref = case_reference(CASE_KEY, CASE_ID)
    assert ref == case_reference(CASE_KEY, CASE_ID)
    assert ref != case_reference(b"another-key", CASE_ID)
    assert ref != case_reference(CASE_KEY, "0190f5c3-7a2b-7c1d-9e8f-0a1b2c3d4e60")
    assert len(ref) == len("SP-XXXX-XXXX-XXXX-XXXX") and ref.startswith("SP-")
    with pytest.raises(ValueError):
        case_reference(b"", CASE_ID)


def test_a_plan_for_an_unknown_need_cannot_be_built() -> None:
    [plan] = hear(routed(), directory())
    bad = NotificationPlan(**{**plan.__dict__, "facts": facts(needs=("massage",))})
    with pytest.raises(NotShareable, match="needs"):
        build_notification(
            bad, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=TEMPLATES
        )


def test_every_kind_of_notification_fits_its_published_schema() -> None:
    # docs/schemas/org.safepath.notify.*Notification.v1.json are this model's schema.
    from services.notify.domain.notification import Notification

    accepted = ReferralAccepted(referral_id=REFERRAL_ID, case_id=CASE_ID, provider_id="p-1")
    for event in (routed(), unroutable(coordinator_id="nmac"), accepted):
        ce = notification_for(event)
        assert Notification.model_validate(ce).data.case_reference == ce["data"]["case_reference"]  # type: ignore[index]
        assert ce["dataschema"] == f"docs/schemas/{ce['type']}.json"
