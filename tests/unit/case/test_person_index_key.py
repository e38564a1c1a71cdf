"""The person index key: from the settings, derived from the master key when unset,
refused in production when short, and never shown."""

from __future__ import annotations

import base64

import pytest

from services.case.app.duplicates import PersonIndex, index_key_from
from shared.settings import Settings, secret_problems

MASTER = base64.b64encode(bytes(range(32))).decode()


def settings(**changes: str) -> Settings:
    return Settings(environment="test", master_key=MASTER, **changes)


def test_an_unset_index_key_is_derived_from_the_master_key_and_is_not_the_master_key() -> None:
    derived = index_key_from(settings())
    assert len(derived) == 32 and derived == index_key_from(settings())
    assert derived != bytes(range(32))
    other = Settings(environment="test", master_key=base64.b64encode(b"x" * 32).decode())
    assert index_key_from(other) != derived


def test_a_set_index_key_is_used_as_given() -> None:
    assert index_key_from(settings(person_index_key="p" * 40)) == b"p" * 40


@pytest.mark.parametrize(("value", "refused"), [("short", True), ("p" * 32, False), ("", False)])
def test_a_short_index_key_is_refused_in_production_without_echoing_it(
    value: str, refused: bool
) -> None:
    problems = secret_problems(settings(person_index_key=value))
    named = [p for p in problems if "SAFEPATH_PERSON_INDEX_KEY" in p]
    assert bool(named) is refused
    assert not any(value and value in p for p in problems)


def test_the_index_never_shows_its_key() -> None:
    index = PersonIndex("case", b"secret-index-key" * 2)
    assert "secret" not in repr(index) and "secret" not in str(index)
