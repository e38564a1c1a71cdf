"""Templates render in Tajik, Russian and English from files, and fall back to English."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.notify.domain.rendering import TemplateError, TemplateSet
from services.notify.templates import TEMPLATE_DIR, load_templates
from shared.events.notify import TemplateName

TEMPLATES: tuple[TemplateName, ...] = (
    "new_referral",
    "referral_escalated",
    "referral_unroutable",
    "referral_accepted",
    "referral_declined",
    "service_completed",
    "service_outcome_recorded",
    "need_unmet",
    "provider_unreachable",
    "referral_withdrawn",
    "data_deletion_reminder",
    "data_deletion_overdue",
)
CASE_TEMPLATES: tuple[TemplateName, ...] = (
    "reflection_period_ending",
    "emergency_access_granted",
    "transfer_requested",
    "transfer_accepted",
    "transfer_refused",
    "transfer_expired",
    "plan_goal_due",
    "follow_up_due",
)
FIELDS = {
    "referral_id": "r-42",
    "case_reference": "SP-ABCD-EFGH-IJKL-MNOP",
    "needs": ["shelter", "legal_aid"],
    "urgency": "urgent",
    "categories": ["trafficking"],
    "region": "sughd",
    "district": "buston",
    "sex": "female",
    "age_band": "18-24",
    "language": "tg",
    "disability": False,
}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("language", ["en", "ru", "tg"])
def test_every_template_renders_in_every_language(template: str, language: str) -> None:
    text, used = load_templates().render(template, language, FIELDS)
    assert used == language
    assert "r-42" in text and "SP-ABCD-EFGH-IJKL-MNOP" in text
    assert "{" not in text and "}" not in text


def test_a_new_referral_reads_naturally_in_each_language() -> None:
    templates = load_templates()
    en, _ = templates.render("new_referral", "en", FIELDS)
    ru, _ = templates.render("new_referral", "ru", FIELDS)
    tg, _ = templates.render("new_referral", "tg", FIELDS)

    assert "Needs: shelter, legal aid" in en and "Sughd region, Buston" in en
    assert "Потребности: приют, юридическая помощь" in ru and "Срочность: срочная" in ru
    assert "Ниёзҳо: паноҳгоҳ, ёрии ҳуқуқӣ" in tg and "вилояти Суғд, Бӯстон" in tg


def test_a_language_without_templates_falls_back_to_english() -> None:
    text, used = load_templates().render("referral_accepted", "other", FIELDS)
    assert used == "en"
    assert text.startswith("Referral r-42 (case SP-ABCD-EFGH-IJKL-MNOP) for shelter, legal aid")


def test_a_template_missing_in_one_language_falls_back_to_english() -> None:
    templates = TemplateSet.from_documents(
        {"en": {"templates": {"a": "A {referral_id}", "b": "B"}}, "ru": {"templates": {"a": "А"}}}
    )
    assert templates.render("b", "ru", {}) == ("B", "en")
    assert templates.render("a", "ru", {}) == ("А", "ru")


def test_a_missing_district_is_said_in_words() -> None:
    text, _ = load_templates().render("new_referral", "ru", {**FIELDS, "district": None})
    assert "Согдийская область, район не указан" in text


@pytest.mark.parametrize(
    "text",
    ["Hello {name}", "{referral_id.__class__}", "{needs[0]}", "{urgency!r}", "{urgency:>10}"],
)
def test_a_template_may_name_only_non_identifying_fields(text: str) -> None:
    with pytest.raises(TemplateError):
        TemplateSet.from_documents({"en": {"templates": {"new_referral": text}}})


def test_english_is_required_as_the_fallback() -> None:
    with pytest.raises(TemplateError):
        TemplateSet.from_documents({"ru": {"templates": {}}})


def test_the_shipped_files_cover_every_template_and_the_three_languages() -> None:
    for language in ("en", "ru", "tg"):
        doc = json.loads((TEMPLATE_DIR / f"{language}.json").read_text(encoding="utf-8"))
        assert set(doc["templates"]) == {*TEMPLATES, *CASE_TEMPLATES}, language


def test_templates_load_from_any_directory(tmp_path: Path) -> None:
    (tmp_path / "en.json").write_text(json.dumps({"templates": {"x": "X {urgency}"}}))
    assert load_templates(tmp_path).render("x", "tg", {"urgency": "urgent"}) == ("X urgent", "en")


@pytest.mark.parametrize("language", ["en", "ru", "tg"])
@pytest.mark.parametrize("outcome", ["transfer_accepted", "transfer_refused", "transfer_expired"])
def test_the_sender_hears_the_outcome_with_only_the_case_reference(
    outcome: str, language: str
) -> None:
    text, used = load_templates().render(
        outcome, language, {"case_reference": "SP-ABCD-EFGH-IJKL-MNOP"}
    )
    assert used == language
    assert "SP-ABCD-EFGH-IJKL-MNOP" in text and "{" not in text


@pytest.mark.parametrize("language", ["en", "ru", "tg"])
def test_a_transfer_request_names_only_the_case_reference(language: str) -> None:
    text, used = load_templates().render(
        "transfer_requested", language, {"case_reference": "SP-ABCD-EFGH-IJKL-MNOP"}
    )
    assert used == language
    assert "SP-ABCD-EFGH-IJKL-MNOP" in text and "{" not in text


@pytest.mark.parametrize("language", ["en", "ru", "tg"])
@pytest.mark.parametrize("template", ["plan_goal_due", "follow_up_due"])
def test_a_due_date_reminder_names_the_case_reference_the_date_and_days_left(
    template: str, language: str
) -> None:
    fields = {"case_reference": "SP-ABCD-EFGH-IJKL-MNOP", "due_on": "2026-12-03", "days_left": 3}
    text, used = load_templates().render(template, language, fields)
    assert used == language
    assert "SP-ABCD-EFGH-IJKL-MNOP" in text and "2026-12-03" in text and "3" in text
    assert "{" not in text
