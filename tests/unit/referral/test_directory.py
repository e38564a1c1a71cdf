"""The directory file: the default one loads; a broken one reports each problem on its line."""

from __future__ import annotations

import textwrap

import pytest

from services.referral.app.directory_file import load_directory
from services.referral.domain.directory import (
    DirectoryInvalid,
    parse_directory,
    validate_directory_text,
)
from shared.events.vocabulary import CATEGORIES

from .builders import DEFAULT_DIRECTORY_FILE

VALID = textwrap.dedent(
    """\
    version: 3
    coordinators:
      - {id: imcctip, category: trafficking, name: {en: IMCCTiP}, contact: {subject: c.imcctip}}
      - {id: nmac, category: mine_eo, name: {en: NMAC}, contact: {subject: c.nmac}}
      - {id: ms, category: refugee_asylum, name: {en: MS}, contact: {subject: c.ms}}
    providers:
      - id: shelter-buston
        name: {en: Shelter}
        org_type: ngo
        area: {districts: [buston], regions: [sughd]}
        categories: [trafficking]
        services: [shelter]
        languages: [tg, ru]
        capacity: 12
        contact: {subject: shelter-buston}
    """
)

BROKEN = textwrap.dedent(
    """\
    version: 1
    coordinators:
      - {id: imcctip, category: trafficking, name: {en: IMCCTiP}, contact: {subject: c.imcctip}}
    providers:
      - id: shelter-buston
        name: {en: Shelter}
        org_type: ngo
        area: {districts: [buston, atlantis], regions: [pamir]}
        categories: [trafficking, pirates]
        services: [shelter, teleportation]
        eligibility: {min_age: 30, max_age: 10}
        languages: [tg]
        contact: {subject: shelter-buston}
      - id: shelter-buston
        name: {en: Second}
        org_type: ngo
        area: {}
        categories: [trafficking]
        services: [shelter]
        languages: [tg]
        capacity: -1
        contact: {subject: second}
    """
)


def test_the_default_directory_is_valid_and_names_every_coordinator() -> None:
    text = DEFAULT_DIRECTORY_FILE.read_text(encoding="utf-8")

    assert validate_directory_text(text) == []
    directory = load_directory(DEFAULT_DIRECTORY_FILE)
    assert {c.category for c in directory.coordinators} == set(CATEGORIES)
    assert {c.id for c in directory.coordinators} == {
        "imcctip-secretariat",
        "nmac",
        "migration-service",
    }
    ids = {p.id for p in directory.providers}
    for site in ("dushanbe", "kulob", "khorog", "khujand"):
        assert f"prosthetic-orthopaedic-centre-{site}" in ids
    for region in ("dushanbe", "sughd", "khatlon", "gbao", "drs", "national"):
        assert f"legal-aid-centres-{region}" in ids


def test_a_valid_file_parses() -> None:
    directory = parse_directory(VALID)

    assert directory.version == 3
    assert directory.providers[0].capacity == 12
    assert directory.coordinator_for("mine_eo").id == "nmac"


def test_a_broken_file_reports_every_problem_with_its_line() -> None:
    problems = [(p.line, p.path) for p in validate_directory_text(BROKEN)]

    assert problems == [
        (2, "coordinators"),  # no coordinator for mine_eo
        (2, "coordinators"),  # ... nor for refugee_asylum
        (8, "providers[0].area.districts[1]"),
        (8, "providers[0].area.regions[0]"),
        (9, "providers[0].categories[1]"),
        (10, "providers[0].services[1]"),
        (11, "providers[0].eligibility"),
        (14, "providers[1].id"),
        (17, "providers[1].area"),
        (21, "providers[1].capacity"),
    ]


def test_problem_messages_say_what_is_wrong() -> None:
    messages = {p.path: p.message for p in validate_directory_text(BROKEN)}

    assert "unknown district 'atlantis'" in messages["providers[0].area.districts[1]"]
    assert "'teleportation'" in messages["providers[0].services[1]"]
    assert "min_age 30 is above max_age 10" in messages["providers[0].eligibility"]
    assert "duplicate id 'shelter-buston'" in messages["providers[1].id"]
    assert "serves nowhere" in messages["providers[1].area"]
    assert sorted(m for p, m in messages.items() if p == "coordinators")


def test_not_yaml_is_one_problem_on_the_line_it_breaks() -> None:
    [problem] = validate_directory_text("version: 1\nproviders: [\n  {id: x\ncoordinators: []\n")

    assert problem.line in (3, 4)
    assert "not valid YAML" in problem.message


def test_a_key_given_twice_is_reported() -> None:
    text = VALID.replace("    capacity: 12\n", "    capacity: 12\n    capacity: 13\n")

    problems = validate_directory_text(text)

    assert [(p.line, p.message) for p in problems] == [(15, "key 'capacity' given twice")]


def test_missing_fields_point_at_their_entry() -> None:
    text = VALID.replace("    languages: [tg, ru]\n", "")

    [problem] = validate_directory_text(text)

    assert (problem.line, problem.path) == (7, "providers[0].languages")


def test_loading_an_invalid_file_raises_with_all_problems() -> None:
    with pytest.raises(DirectoryInvalid) as raised:
        parse_directory(BROKEN)

    assert len(raised.value.problems) == 10
    assert "line 8" in str(raised.value)


def test_a_child_only_provider_must_be_child_appropriate() -> None:
    text = VALID.replace("    capacity: 12\n", "    eligibility: {max_age: 17}\n")

    [problem] = validate_directory_text(text)

    assert problem.path == "providers[0].eligibility"
    assert "child_appropriate" in problem.message
