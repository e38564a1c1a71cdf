"""Tajik, Russian and English, from the gettext catalogs in ``locale/`` (Babel).

Templates and code mark text with ``_("...")`` in English; ``pybabel extract`` collects it
into ``locale/messages.pot`` and each language's ``messages.po`` holds the translation
(see docs/web.md). Catalogs are read from the ``.po`` files at start-up, so a compiled
``.mo`` can never be stale. Dates are shown in Dushanbe time, formatted for the language.
"""

from __future__ import annotations

import gettext
import io
from datetime import datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import Translations

LANGUAGES = ("tg", "ru", "en")
DEFAULT_LANGUAGE = "tg"
LANGUAGE_NAMES = {"tg": "Тоҷикӣ", "ru": "Русский", "en": "English"}
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
TIMEZONE: tzinfo = ZoneInfo("Asia/Dushanbe")
_Datetime = datetime  # the type, where a method named ``datetime`` hides it


def load_catalogs(directory: Path = LOCALE_DIR) -> dict[str, gettext.NullTranslations]:
    """Every language's translations; English (the source text) needs none, and a missing
    catalog shows English (tests/unit/web checks that none is missing or incomplete)."""
    out: dict[str, gettext.NullTranslations] = {
        lang: gettext.NullTranslations() for lang in LANGUAGES
    }
    for lang in LANGUAGES:
        po = directory / lang / "LC_MESSAGES" / "messages.po"
        if lang == "en" or not po.exists():
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=lang)
        buf = io.BytesIO()
        write_mo(buf, catalog)
        buf.seek(0)
        out[lang] = Translations(buf)
    return out


def best_language(accept_language: str | None) -> str:
    """The first of our languages the browser asks for (``Accept-Language``), else Tajik."""
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        primary = tag.split("-")[0]
        if primary in LANGUAGES:
            return primary
    return DEFAULT_LANGUAGE


class Formats:
    """Dates and numbers for one language."""

    def __init__(self, language: str) -> None:
        self.language = language

    def datetime(self, value: str | _Datetime | None) -> str:
        when = _parse(value)
        if when is None:
            return ""
        return format_datetime(when, "medium", tzinfo=TIMEZONE, locale=self.language)

    def date(self, value: str | _Datetime | None) -> str:
        when = _parse(value)
        return "" if when is None else format_date(when, "medium", locale=self.language)

    def number(self, value: int | float) -> str:
        return format_decimal(value, locale=self.language)

    def percent(self, value: float) -> str:
        """A share (0.87) as the language writes a percentage (``87 %`` in Russian)."""
        return format_percent(value, locale=self.language)


def _parse(value: str | datetime | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
