"""What each event adds to the statistics: clear fields only, mine/EO facts as they land."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.case.app.statistics.model import (
    CATEGORY_FACT_COLUMNS,
    SQL_FACTS,
    case_facts,
    dimension_change,
    need_referral_id,
    received_facts,
)
from shared.events import registry
from shared.events.case import MineFacts, SurvivorProfileRecorded
from shared.events.case_facts import RefugeeFacts, TraffickingFacts
from tests.unit.case.builders import profile

AT = datetime(2026, 3, 1, tzinfo=UTC)


def test_a_profile_gives_its_clear_fields_and_never_the_sealed_ones() -> None:
    p = profile(sex="male", age_band="12-17", disability=True, disability_kind="physical")
    change = dimension_change("SurvivorProfileRecorded", {"profile": p.model_dump(mode="json")})
    assert change is not None
    assert change["sex"] == "male" and change["age_band"] == "12-17"
    assert change["disability"] == "yes" and change["disability_kind"] == "physical"
    assert change["district"] == "khujand" and change["nationality_group"] == "citizen"
    assert change["casualty"] == "none"  # no mine/EO facts recorded
    assert "identifying" not in change and "nationality" not in change


def test_mine_facts_slot_in_as_casualty_dimensions() -> None:
    p = profile(
        categories=["mine_eo"],
        mine_eo=MineFacts(victim="indirect", outcome="killed", incident_district="khorog",
                          incident_year=2024, device_type="anti_personnel_mine"),
    )  # fmt: skip
    event = SurvivorProfileRecorded(profile=p).model_dump(mode="json")
    change = dimension_change("SurvivorProfileRecorded", event)
    assert change is not None
    assert (change["victim"], change["casualty"], change["incident_year"]) == (
        "indirect",
        "killed",
        "2024",
    )
    assert (
        change["incident_district"] == "khorog" and change["device_type"] == "anti_personnel_mine"
    )


def test_trafficking_and_refugee_facts_slot_in_as_coarse_dimensions() -> None:
    """Issue 14's single-valued facts: 'none' without facts of the category, 'unknown' with
    facts that lack the field; never the country (of origin, of exploitation) or a year."""
    p = profile(
        categories=["trafficking", "refugee_asylum"],
        trafficking=TraffickingFacts(scope="cross_border", recruitment_channel="online",
                                     exploitation_country="RU", exploitation_start_year=2023,
                                     exploitation_forms=["forced_labour"]),
        refugee_asylum=RefugeeFacts(country_of_origin="AF", arrival_year=2022),
    )  # fmt: skip
    event = SurvivorProfileRecorded(profile=p).model_dump(mode="json")
    change = dimension_change("SurvivorProfileRecorded", event)
    assert change is not None
    assert {c: change[c] for c in CATEGORY_FACT_COLUMNS} == {
        "trafficking_scope": "cross_border",
        "recruitment_channel": "online",
        "procedure_stage": "unknown",
    }
    assert change["exploitation_forms"] == ["forced_labour"]  # a list, like the categories
    assert not {"RU", "AF", "2023", "2022"} & set(map(str, change.values()))
    bare = dimension_change("SurvivorProfileRecorded", {"profile": profile().model_dump()})
    assert bare is not None
    assert {c: bare[c] for c in CATEGORY_FACT_COLUMNS} == dict.fromkeys(
        CATEGORY_FACT_COLUMNS, "none"
    )
    assert bare["exploitation_forms"] == ["none"]
    formless = profile(trafficking=TraffickingFacts(scope="internal"))
    change = dimension_change("SurvivorProfileRecorded", {"profile": formless.model_dump()})
    assert change is not None and change["exploitation_forms"] == ["unknown"]


def test_a_request_counts_once_per_need_under_the_per_need_referral_id() -> None:
    data = {"referral_id": "0192f6a0-0000-7000-8000-000000000001", "needs": ["shelter", "medical"],
            "urgency": "urgent"}  # fmt: skip
    facts = case_facts("ReferralRequested", "case-1", "e1", AT, data)
    assert [(f[0], f[2], f[5]) for f in facts] == [
        ("e1/shelter", "referral_requested", "shelter"),
        ("e1/medical", "referral_requested", "medical"),
    ]
    assert len({f[4] for f in facts}) == 2
    assert case_facts("CaseNoteAdded", "case-1", "e2", AT, {}) == []


def test_received_referral_events_become_facts_and_directory_events_do_not() -> None:
    routed = {"referral_id": "r1", "case_id": "c1", "need": "shelter", "provider_id": "p1",
              "attempt": 2}  # fmt: skip
    assert received_facts("e1", "ReferralRouted", AT, routed) == [
        ("e1", "c1", "routed", AT, "r1", "shelter", "p1", "2")
    ]
    declined = {"referral_id": "r1", "case_id": "c1", "provider_id": "p1",
                "reason_code": "no_capacity"}  # fmt: skip
    assert received_facts("e2", "ReferralDeclined", AT, declined)[0][7] == "no_capacity"
    assert received_facts("e3", "ProviderRegistered", AT, {"provider": {}}) == []


@given(st.uuids(), st.text(min_size=1, max_size=40))
def test_the_per_need_referral_id_is_uuid5_of_the_request_and_the_need(
    request: uuid.UUID, need: str
) -> None:
    assert need_referral_id(request.bytes, need) == str(uuid.uuid5(request, need))


def test_an_assignment_by_hand_is_a_fact_of_its_own_and_a_link_to_a_person_killed_a_change() -> (
    None
):
    data = {"referral_id": "r-1", "case_id": "c-1", "provider_id": "p-2", "reason_code": "other"}
    (fact,) = received_facts("e-1", "ReferralAssignedByHand", AT, data)
    assert fact[2] == "assigned_by_hand" and fact[6] == "p-2" and fact[7] == "other"
    link = {"casualty_id": "casualty-00000000-0000-0000-0000-000000000001", "relation": "parent"}
    assert dimension_change("CasualtyLinked", link) == {"relative_killed": link["casualty_id"]}
    assert case_facts("CasualtyLinked", "c-1", "e-2", AT, link) == []


def test_the_facts_a_rebuild_derives_in_sql_are_those_case_facts_gives() -> None:
    """The rebuild derives every case fact but a request's in SQL (``SQL_FACTS``): both must
    name the same events and kinds, or a fact would count live and not after a replay (the
    details are compared by the replay test, tests/integration/case/test_statistics.py)."""
    data = {"reason": "r", "status": "s", "days": 14, "reason_code": "c", "outcome": "o",
            "device": "d", "action": "a"}  # fmt: skip
    kinds = {}
    for model in registry.models("case"):
        name = model.__name__
        if name != "ReferralRequested" and (facts := case_facts(name, "c", "e", AT, data)):
            kinds[name] = facts[0][2]
    assert kinds == {name: kind for name, (kind, _) in SQL_FACTS.items()}
