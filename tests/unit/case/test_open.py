"""Opening a case, and commands on a case that does not exist."""

from __future__ import annotations

import pytest

from services.case.domain import fold
from services.case.domain.commands import (
    AddNote,
    AssessNeeds,
    CaseCommand,
    CloseCase,
    EraseIdentity,
    GiveConsent,
    OpenCase,
    RecordAccess,
    RecordIdentification,
    RecordProfile,
    ReopenCase,
    RequestReferral,
    TransferCase,
    UpdateProfile,
    WithdrawConsent,
)
from services.case.domain.errors import CaseAlreadyExists, CaseNotFound, CorruptStream
from shared.events.case import CaseClosed, CaseOpened, SurvivorProfileRecorded

from .builders import opened, profile, profiled, sealed, when

REFERRAL_ID = "0f8e6b1e-3f1c-4a53-9a55-6a4f3b0d2c11"


def test_opening_a_case_makes_the_opener_responsible() -> None:
    events = when(
        [],
        OpenCase(
            caseworker="cw-dilnoza",
            office="khujand-nrm",
            region="sughd",
            categories=["trafficking"],
        ),
    )

    assert events == [opened()]
    case = fold(events)
    assert case is not None
    assert (case.status, case.caseworker, case.office) == ("open", "cw-dilnoza", "khujand-nrm")
    assert case.profile is None


def test_opening_with_an_intake_profile_records_it_in_the_same_decision() -> None:
    command = OpenCase(
        caseworker="cw-dilnoza",
        office="khujand-nrm",
        region="sughd",
        categories=["trafficking"],
        profile=profile(),
    )

    events = when([], command)

    assert [type(e) for e in events] == [CaseOpened, SurvivorProfileRecorded]
    assert events[1] == profiled()


def test_a_case_cannot_be_opened_twice() -> None:
    command = OpenCase(caseworker="cw-other", region="sughd", categories=["mine_eo"])

    with pytest.raises(CaseAlreadyExists):
        when([opened()], command)


EVERY_COMMAND_BUT_OPEN: list[CaseCommand] = [
    RecordProfile(profile=profile()),
    UpdateProfile(profile=profile()),
    AssessNeeds(needs=["shelter"]),
    RecordIdentification(
        status="presumed", basis="indicators_present", deciding_agency="border_guard"
    ),
    GiveConsent(
        consent_id="c1", purpose="referral", service_types=["shelter"], data_categories=["needs"]
    ),
    WithdrawConsent(consent_id="c1"),
    RequestReferral(referral_id=REFERRAL_ID, needs=["shelter"], urgency="routine"),
    AddNote(note_id="n1", note=sealed("note")),
    CloseCase(reason="services_completed"),
    ReopenCase(reason="new_needs"),
    TransferCase(to_caseworker="cw-farrukh"),
    EraseIdentity(erased_by="sup-1", reason_code="survivor_request"),
    RecordAccess(who="cw-1", role="caseworker", fields=["profile"], endpoint="GET /cases/{id}"),
]


@pytest.mark.parametrize("command", EVERY_COMMAND_BUT_OPEN, ids=lambda c: type(c).__name__)
def test_any_other_command_on_a_missing_case_is_not_found(command: CaseCommand) -> None:
    with pytest.raises(CaseNotFound) as raised:
        when([], command)
    assert raised.value.code == "case_not_found"


def test_a_stream_that_does_not_start_with_case_opened_is_corrupt() -> None:
    with pytest.raises(CorruptStream):
        fold([CaseClosed(reason="duplicate")])


def test_a_stream_with_two_openings_is_corrupt() -> None:
    with pytest.raises(CorruptStream):
        fold([opened(), opened()])


def test_an_empty_stream_is_no_case() -> None:
    assert fold([]) is None
