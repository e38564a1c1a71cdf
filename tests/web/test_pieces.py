"""The web app's small parts: catalogs complete and current, errors mapped to fields,
form bodies, languages and dates."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from starlette.datastructures import FormData

from services.web.errors import ApiProblem, field_errors, form_field
from services.web.forms import intake_body, referral_body
from services.web.i18n import LOCALE_DIR, Formats, best_language, load_catalogs
from services.web.pages import local_path

WEB = Path(__file__).resolve().parents[2] / "services" / "web"


def _source_messages() -> set[str]:
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2")]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options
    ):
        found.add(message if isinstance(message, str) else message[0])
    return found


@pytest.mark.parametrize("lang", ["tg", "ru"])
def test_every_text_of_the_app_is_translated(lang: str) -> None:
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    catalog = read_po(io.BytesIO(po.read_bytes()), locale=lang)
    translated = {m.id for m in catalog if m.id and m.string and not m.fuzzy}
    missing = _source_messages() - translated
    assert not missing, f"{lang}: untranslated (run pybabel extract/update, docs/web.md): {missing}"


def test_the_catalogs_are_loaded_and_differ_by_language() -> None:
    catalogs = load_catalogs()
    words = {lang: catalogs[lang].gettext("Please fill this in.") for lang in ("tg", "ru", "en")}
    assert words["en"] == "Please fill this in."
    assert len(set(words.values())) == 3


def test_api_errors_land_on_the_form_fields_in_the_readers_language() -> None:
    problem = ApiProblem(
        422,
        {
            "status": 422,
            "errors": [
                {"path": "body.profile.sex", "type": "missing", "message": "Field required"},
                {"path": "body.categories.0", "type": "enum", "message": "Input should be"},
                {"path": "body", "type": "value_error", "message": "x"},
            ],
        },
    )
    tg = load_catalogs()["tg"].gettext
    errors = field_errors(problem, tg)
    assert errors.get("profile.sex") == [tg("Please fill this in.")]
    assert errors.get("categories") == [tg("Please choose one of the options.")]
    assert errors.general == [tg("This value is not valid.")]
    assert form_field("query.limit") == "query.limit"


def test_the_intake_form_passes_what_was_typed_and_leaves_out_empty_fields() -> None:
    form = FormData(
        [
            ("region", "sughd"),
            ("categories", "trafficking"),
            ("profile.given_name", " Zarina "),
            ("profile.estimated_age_years", "nineteen"),
            ("profile.family_name", ""),
            ("profile.document_numbers", "A1\n\nB2\n"),
        ]
    )
    body = intake_body(form)
    assert body["region"] == "sughd" and body["categories"] == ["trafficking"]
    profile = body["profile"]
    assert profile["given_name"] == "Zarina"
    assert profile["estimated_age_years"] == "nineteen"  # the API says what is wrong
    assert "family_name" not in profile and "sex" not in profile
    assert profile["document_numbers"] == ["A1", "B2"]
    assert profile["region"] == "sughd" and profile["disability"] is False
    assert profile["interpreter_needed"] is False and "language_label" not in profile
    other = intake_body(
        FormData(
            [
                ("profile.language", "other"),
                ("profile.language_label", " Shughni "),
                ("profile.interpreter_needed", "on"),
            ]
        )
    )["profile"]
    assert other["language_label"] == "Shughni" and other["interpreter_needed"] is True
    assert referral_body(FormData([("needs", "shelter"), ("note", "")])) == {"needs": ["shelter"]}


@pytest.mark.parametrize(
    ("header", "expected"),
    [("ru-RU,ru;q=0.9,en;q=0.8", "ru"), ("en-GB", "en"), ("de-DE", "tg"), (None, "tg")],
)
def test_the_first_language_is_the_browsers_else_tajik(header: str | None, expected: str) -> None:
    assert best_language(header) == expected


def test_dates_are_shown_in_dushanbe_time_for_the_language() -> None:
    assert "15:05" in Formats("ru").datetime("2026-11-29T10:05:00Z")
    assert Formats("en").datetime(None) == ""
    assert Formats("ru").number(12345) != Formats("en").number(12345)


@pytest.mark.parametrize("bad", ["//evil.example", "https://evil.example", "/\\evil", "x", ""])
def test_only_local_paths_are_followed(bad: str) -> None:
    assert local_path(bad, "/home") == "/home"
    assert local_path("/cases?status=open") == "/cases?status=open"


async def test_the_session_store_is_bounded_and_forgets_idle_sessions() -> None:
    from datetime import UTC, datetime, timedelta

    from services.web.sessions import SessionStore

    now = datetime(2026, 11, 29, tzinfo=UTC)
    store = SessionStore(timedelta(minutes=30), capacity=10)
    first = await store.new("tg", now)
    kept = await store.new("tg", now)
    for _ in range(9):
        await store.get(kept.id, now)  # used: stays
        await store.new("tg", now)
    assert len(store) == 10
    assert await store.get(first.id, now) is None  # the least recently used went first
    assert await store.get(kept.id, now) is kept
    assert await store.get(kept.id, now + timedelta(minutes=31)) is None
