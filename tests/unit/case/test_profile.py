"""The survivor profile: recorded once, then replaced whole; identifying data only sealed."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from services.case.domain.commands import RecordProfile, UpdateProfile
from services.case.domain.errors import ProfileAlreadyRecorded, ProfileRequired
from shared.events.case import IdentifyingDetails, SurvivorProfileUpdated

from .builders import given, opened, profile, profiled, sealed, when


def test_a_profile_is_recorded_and_becomes_the_source_of_region_and_categories() -> None:
    new = profile(region="khatlon", district="kulob", categories=["mine_eo", "refugee_asylum"])

    events = when([opened()], RecordProfile(profile=new))

    case = given(opened(), *events)
    assert case is not None
    assert case.profile == new
    assert case.region == "khatlon"
    assert case.categories == ("mine_eo", "refugee_asylum")


def test_a_profile_cannot_be_recorded_twice() -> None:
    with pytest.raises(ProfileAlreadyRecorded):
        when([opened(), profiled()], RecordProfile(profile=profile()))


def test_updating_needs_a_recorded_profile() -> None:
    with pytest.raises(ProfileRequired):
        when([opened()], UpdateProfile(profile=profile()))


def test_an_update_replaces_the_whole_profile() -> None:
    changed = profile(disability=True, disability_kind="physical", age_band="25-39")

    events = when([opened(), profiled()], UpdateProfile(profile=changed))

    assert events == [SurvivorProfileUpdated(profile=changed)]
    case = given(opened(), profiled(), *events)
    assert case is not None and case.profile == changed


def test_an_update_that_changes_nothing_records_nothing() -> None:
    assert when([opened(), profiled()], UpdateProfile(profile=profile())) == []


def test_a_district_must_lie_in_the_profile_region() -> None:
    with pytest.raises(ValidationError, match="not in region"):
        profile(region="gbao", district="khujand")


def test_a_disability_kind_needs_a_disability() -> None:
    with pytest.raises(ValidationError, match="disability_kind"):
        profile(disability=False, disability_kind="visual")


@pytest.mark.parametrize(
    "bad",
    [
        {"age_band": "17"},
        {"sex": "f"},
        {"language": "fr"},
        {"region": "moscow", "district": None},
        {"categories": []},
        {"categories": ["trafficking", "trafficking"]},
        {"nationality": "Tajik"},
    ],
)
def test_out_of_vocabulary_profile_values_cannot_be_constructed(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        profile(**bad)


def test_the_profile_in_an_event_carries_identifying_data_only_as_ciphertext() -> None:
    secret = "Gulnora Rahimova"
    event = profiled(identifying=sealed(secret))

    payload = json.dumps(event.model_dump(mode="json"))

    assert secret not in payload
    clear = set(event.profile.model_dump()) - {"identifying"}
    identifying = set(IdentifyingDetails.model_fields)
    assert clear.isdisjoint(identifying)
    assert {"given_name", "family_name", "date_of_birth", "address", "narrative"} <= identifying


def test_identifying_details_are_bounded_before_sealing() -> None:
    with pytest.raises(ValidationError):
        IdentifyingDetails(given_name="x" * 101)
    with pytest.raises(ValidationError):
        IdentifyingDetails(estimated_age_years=200)
    with pytest.raises(ValidationError):
        IdentifyingDetails(nickname="not a field")  # type: ignore[call-arg]
