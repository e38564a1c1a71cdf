"""Message text from templates, in the recipient's language.

Templates are ``str.format`` strings kept in files (``services/notify/templates``). They
may name only the non-identifying fields in ``PLACEHOLDERS``, as bare names: no
attribute or index access, so a template cannot reach anything else. Each language file
may also translate vocabulary codes (``labels``); a code without a label shows as is.
A language without a file, or a file without a template, falls back to English.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

FALLBACK_LANGUAGE = "en"

PLACEHOLDERS: frozenset[str] = frozenset(
    {
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
        "days_left",  # about a case: a reflection period ending, a goal or follow-up due
        "ends_on",
        "due_on",
        "role",  # about a case: break the glass
        "until",
        "reason_code",  # a need left unmet: the coordinator's reason (a code, labelled)
    }
)

# Which label table translates which placeholder (list-valued ones label each item).
_LABEL_TABLE = {
    "needs": "service",
    "urgency": "urgency",
    "categories": "category",
    "region": "region",
    "district": "district",
    "sex": "sex",
    "language": "language",
    "disability": "disability",
    "role": "role",
    "reason_code": "unmet_reason",
}


class TemplateError(ValueError):
    """A template file is unusable, or a template is missing in every language."""


@dataclass(frozen=True)
class LanguageTemplates:
    templates: Mapping[str, str]
    labels: Mapping[str, Mapping[str, str]]
    list_separator: str = ", "


@dataclass(frozen=True)
class TemplateSet:
    languages: Mapping[str, LanguageTemplates]

    @classmethod
    def from_documents(cls, documents: Mapping[str, Mapping[str, Any]]) -> TemplateSet:
        """Build from parsed files, ``{"en": {"templates": {...}, "labels": {...}}, ...}``.

        Refuses a template that names anything outside ``PLACEHOLDERS``.
        """
        if FALLBACK_LANGUAGE not in documents:
            raise TemplateError("the English templates are required (they are the fallback)")
        languages = {}
        for language, doc in documents.items():
            templates = dict(doc.get("templates", {}))
            for name, text in templates.items():
                _check(language, name, text)
            labels = {k: dict(v) for k, v in dict(doc.get("labels", {})).items()}
            separator = str(doc.get("list_separator", ", "))
            languages[language] = LanguageTemplates(templates, labels, separator)
        return cls(languages)

    def render(self, template: str, language: str, fields: Mapping[str, Any]) -> tuple[str, str]:
        """The text of ``template`` and the language it is in (``language`` or "en")."""
        chosen = self.languages.get(language)
        if chosen is None or template not in chosen.templates:
            language, chosen = FALLBACK_LANGUAGE, self.languages[FALLBACK_LANGUAGE]
        if template not in chosen.templates:
            raise TemplateError(f"no template {template!r}")
        values = {name: _label(chosen, name, fields.get(name)) for name in PLACEHOLDERS}
        return chosen.templates[template].format_map(values), language


def _check(language: str, name: str, text: object) -> None:
    if not isinstance(text, str):
        raise TemplateError(f"{language}/{name}: a template must be a string")
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as e:
        raise TemplateError(f"{language}/{name}: {e}") from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise TemplateError(f"{language}/{name}: placeholder {{{field}}} is not allowed")


def _label(lang: LanguageTemplates, name: str, value: Any) -> str:
    table = lang.labels.get(_LABEL_TABLE.get(name, ""), {})
    if value is None:
        return table.get("none", "-")
    if isinstance(value, bool):
        return table.get(str(value).lower(), str(value).lower())
    if isinstance(value, list | tuple):
        return lang.list_separator.join(table.get(str(v), str(v)) for v in value)
    return table.get(str(value), str(value))
