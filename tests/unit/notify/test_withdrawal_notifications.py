"""Withdrawal reaches every provider: "stop and delete" in each one's language, reminders,
the coordinator when a provider stays silent; nothing about the person in any of them."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from services.notify.domain.notification import Notification
from services.notify.domain.payload import build_notification
from services.notify.domain.recipients import NotificationPlan, who_hears_what
from services.notify.domain.referral_facts import Deletion, facts_of_attempt, facts_of_deletion
from services.notify.templates import load_templates
from shared.events.base import Event
from shared.events.referral import (
    DataDeletionConfirmed,
    DataDeletionEscalated,
    DataDeletionReminded,
    DataDeletionRequested,
)
from tests.unit.notify.builders import (
    CASE_ID,
    CASE_KEY,
    PLANTED,
    REFERRAL_ID,
    directory,
    routed,
    with_planted_identity,
)

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
IDS = {"referral_id": REFERRAL_ID, "case_id": CASE_ID}
BUSTON, FEMIDA = "women-and-society-shelter-buston", "femida-shelter-dushanbe"
REQUESTED = DataDeletionRequested(
    **IDS, provider_ids=[BUSTON, FEMIDA], cause="consent_withdrawn", confirm_by=NOW
)


def plans(event: Deletion) -> list[NotificationPlan]:
    # The facts as queueing reads them: the last attempt's (here with an identity planted
    # in its free text), addressed by the deletion event.
    attempt = facts_of_attempt(with_planted_identity(routed()))
    return who_hears_what(event, facts_of_deletion(event, attempt), directory())


def test_every_provider_named_hears_stop_and_delete_in_its_own_language() -> None:
    got = {(p.recipient_kind, p.recipient_id, p.template, p.language) for p in plans(REQUESTED)}

    assert got == {
        ("provider", BUSTON, "referral_withdrawn", "tg"),
        ("provider", FEMIDA, "referral_withdrawn", "ru"),
    }
    by_id = {p.recipient_id: p for p in plans(REQUESTED)}
    assert by_id[BUSTON].channels == ("nats", "webhook")  # Buston registered a webhook


def test_the_withdrawal_says_which_referral_and_how_to_confirm_and_nothing_more() -> None:
    templates = load_templates()
    for plan in plans(REQUESTED):
        ce = build_notification(
            plan, notification_id="n-1", now=NOW, case_key=CASE_KEY, templates=templates
        )
        data = ce["data"]
        assert set(data) == {"kind", "referral_id", "case_reference", "needs", "actions", "message"}
        assert data["actions"] == {
            "confirm_deletion": {"method": "POST", "path": f"/referrals/{REFERRAL_ID}/data-deleted"}
        }
        assert f"/referrals/{REFERRAL_ID}/data-deleted" in data["message"]["text"]
        assert data["message"]["language"] == plan.language
        wire = json.dumps(ce, ensure_ascii=False)
        for secret in (*PLANTED, CASE_ID, "sughd", "buston", "female", "18-24"):
            assert secret not in wire.replace(BUSTON, "")
        Notification.model_validate(ce)  # the published schema accepts it


def test_the_reminder_goes_to_the_silent_providers_only() -> None:
    reminded = DataDeletionReminded(**IDS, provider_ids=[FEMIDA], escalate_by=NOW)

    [plan] = plans(reminded)

    assert (plan.recipient_id, plan.template, plan.language) == (
        FEMIDA,
        "data_deletion_reminder",
        "ru",
    )


def test_a_deletion_still_unconfirmed_goes_to_the_coordinator_the_event_names() -> None:
    escalated = DataDeletionEscalated(
        **IDS, provider_ids=[FEMIDA], coordinator_id="imcctip-secretariat"
    )

    [plan] = plans(escalated)

    assert (plan.recipient_kind, plan.recipient_id, plan.template) == (
        "coordinator",
        "imcctip-secretariat",
        "data_deletion_overdue",
    )


def test_every_language_has_the_withdrawal_texts() -> None:
    templates = load_templates()
    for language in ("en", "ru", "tg"):
        for name in ("referral_withdrawn", "data_deletion_reminder", "data_deletion_overdue"):
            assert name in templates.languages[language].templates, (language, name)


def test_a_confirmation_notifies_nobody() -> None:
    confirmed: Event = DataDeletionConfirmed(**IDS, provider_id=BUSTON)
    assert who_hears_what(confirmed, facts_of_attempt(routed()), directory()) == []


def test_a_reflection_reminder_names_the_case_only_by_its_reference() -> None:
    from datetime import date

    from services.notify.domain.payload import build_case_notification

    for language in ("en", "ru", "tg"):
        ce = build_case_notification(
            template="reflection_period_ending",
            recipient_kind="caseworker",
            language=language,
            case_id=CASE_ID,
            facts={"days_left": 7, "ends_on": "2026-12-29"},
            notification_id="n-2",
            now=NOW,
            case_key=CASE_KEY,
            templates=load_templates(),
        )
        data = ce["data"]
        assert CASE_ID not in json.dumps(ce)
        assert ce["subject"] == data["case_reference"] and "referral_id" not in data
        assert (data["days_left"], data["ends_on"]) == (7, "2026-12-29")
        assert data["message"]["language"] == language
        assert "7" in data["message"]["text"] and "2026-12-29" in data["message"]["text"]
        assert data["case_reference"] in data["message"]["text"]
        parsed = Notification.model_validate(ce)
        assert parsed.data.ends_on == date(2026, 12, 29)


def test_break_the_glass_tells_the_office_supervisors_the_role_and_the_time_only() -> None:
    from services.notify.domain.payload import build_case_notification

    texts = {}
    for language in ("en", "ru", "tg"):
        ce = build_case_notification(
            template="emergency_access_granted",
            recipient_kind="supervisor",
            language=language,
            case_id=CASE_ID,
            facts={"role": "caseworker", "until": "2026-11-30T01:15:00+00:00"},
            notification_id="n-3",
            now=NOW,
            case_key=CASE_KEY,
            templates=load_templates(),
        )
        assert ce["type"] == "org.safepath.notify.SupervisorNotification.v1"
        assert CASE_ID not in json.dumps(ce)
        assert (ce["data"]["role"], ce["data"]["until"]) == ("caseworker", "2026-11-30T01:15Z")
        Notification.model_validate(ce)
        texts[language] = ce["data"]["message"]["text"]
    assert "caseworker" in texts["en"] and "социальный работник" in texts["ru"]
    assert "корманди иҷтимоӣ" in texts["tg"]


def test_a_due_date_reminder_carries_the_date_and_days_left_and_nothing_else() -> None:
    from services.notify.domain.payload import build_case_notification

    for template in ("plan_goal_due", "follow_up_due"):
        for language in ("en", "ru", "tg"):
            ce = build_case_notification(
                template=template,
                recipient_kind="caseworker",
                language=language,
                case_id=CASE_ID,
                # Whatever else reaches the builder (a goal id, its need) is not shared.
                facts={
                    "days_left": 3,
                    "due_on": "2026-12-03",
                    "item_id": "goal-prosthesis",
                    "need": "prosthetics_orthotics",
                },
                notification_id="n-4",
                now=NOW,
                case_key=CASE_KEY,
                templates=load_templates(),
            )
            text = json.dumps(ce, ensure_ascii=False)
            assert CASE_ID not in text and "goal-prosthesis" not in text
            assert "prosthetics" not in text
            data = ce["data"]
            assert (data["kind"], data["days_left"], data["due_on"]) == (template, 3, "2026-12-03")
            assert data["message"]["language"] == language
            assert "2026-12-03" in data["message"]["text"]
            Notification.model_validate(ce)
