"""Notes, needs, closing, reopening, transfer, erasure and the audit of reads."""

from __future__ import annotations

import pytest

from services.case.domain.commands import (
    AddNote,
    AssessNeeds,
    CaseCommand,
    CloseCase,
    EraseIdentity,
    GiveConsent,
    RecordAccess,
    RecordIdentification,
    RecordProfile,
    ReopenCase,
    RequestReferral,
    TransferCase,
    UpdateProfile,
    WithdrawConsent,
)
from services.case.domain.errors import (
    CaseClosedError,
    IdentityErasedError,
    InvalidTransition,
    NoteAlreadyAdded,
)
from shared.events.base import Event
from shared.events.case import (
    CaseAccessed,
    CaseClosed,
    CaseNoteAdded,
    CaseReopened,
    CaseTransferred,
    ConsentWithdrawn,
    IdentityErased,
    NeedsAssessed,
)

from .builders import consent_given, given, opened, profile, profiled, sealed, when

REFERRAL_ID = "0f8e6b1e-3f1c-4a53-9a55-6a4f3b0d2c11"
CLOSED: list[Event] = [opened(), profiled(), consent_given(), CaseClosed(reason="lost_contact")]
ERASED: list[Event] = [
    opened(),
    profiled(),
    consent_given(),
    IdentityErased(erased_by="sup-zarina", reason_code="survivor_request"),
]


def test_needs_are_assessed_and_the_latest_assessment_stands() -> None:
    first = NeedsAssessed(needs=["shelter", "medical"])

    events = when([opened(), first], AssessNeeds(needs=["legal_aid"], note=sealed("court date")))

    assert events == [NeedsAssessed(needs=["legal_aid"], note=sealed("court date"))]
    case = given(opened(), first, *events)
    assert case is not None and case.needs == ("legal_aid",)


def test_a_note_is_added_sealed() -> None:
    note = sealed("she is afraid of the recruiter in her village")

    events = when([opened()], AddNote(note_id="note-1", note=note))

    assert events == [CaseNoteAdded(note_id="note-1", note=note)]


def test_a_note_id_is_used_once() -> None:
    history: list[Event] = [opened(), CaseNoteAdded(note_id="note-1", note=sealed("a"))]

    with pytest.raises(NoteAlreadyAdded):
        when(history, AddNote(note_id="note-1", note=sealed("b")))


def test_closing_records_the_reason() -> None:
    events = when([opened()], CloseCase(reason="services_completed"))

    assert events == [CaseClosed(reason="services_completed")]
    case = given(opened(), *events)
    assert case is not None
    assert (case.status, case.close_reason) == ("closed", "services_completed")


def test_a_closed_case_cannot_be_closed_again() -> None:
    with pytest.raises(CaseClosedError):
        when(CLOSED, CloseCase(reason="duplicate"))


def test_a_closed_case_can_be_reopened() -> None:
    events = when(CLOSED, ReopenCase(reason="new_needs"))

    assert events == [CaseReopened(reason="new_needs")]
    case = given(*CLOSED, *events)
    assert case is not None
    assert (case.status, case.close_reason) == ("open", None)


def test_only_a_closed_case_can_be_reopened() -> None:
    with pytest.raises(InvalidTransition, match="open"):
        when([opened()], ReopenCase(reason="new_needs"))


def test_a_case_is_transferred_to_another_caseworker_and_office() -> None:
    events = when([opened()], TransferCase(to_caseworker="cw-farrukh", to_office="bokhtar-nrm"))

    assert events == [
        CaseTransferred(
            from_caseworker="cw-dilnoza",
            to_caseworker="cw-farrukh",
            from_office="khujand-nrm",
            to_office="bokhtar-nrm",
        )
    ]
    case = given(opened(), *events)
    assert case is not None
    assert (case.caseworker, case.office) == ("cw-farrukh", "bokhtar-nrm")


def test_a_transfer_to_another_caseworker_keeps_the_office() -> None:
    (event,) = when([opened()], TransferCase(to_caseworker="cw-farrukh"))

    assert isinstance(event, CaseTransferred)
    assert (event.to_caseworker, event.to_office) == ("cw-farrukh", "khujand-nrm")


def test_a_transfer_to_another_office_keeps_the_caseworker() -> None:
    (event,) = when([opened()], TransferCase(to_office="dushanbe-nrm"))

    assert isinstance(event, CaseTransferred)
    assert (event.to_caseworker, event.to_office) == ("cw-dilnoza", "dushanbe-nrm")


@pytest.mark.parametrize(
    "command",
    [
        TransferCase(),
        TransferCase(to_caseworker="cw-dilnoza"),
        TransferCase(to_caseworker="cw-dilnoza", to_office="khujand-nrm"),
    ],
)
def test_a_transfer_must_move_the_case(command: TransferCase) -> None:
    with pytest.raises(InvalidTransition):
        when([opened()], command)


def test_erasure_is_recorded_and_freezes_the_identity() -> None:
    history: list[Event] = [opened(), profiled()]

    events = when(history, EraseIdentity(erased_by="sup-zarina", reason_code="survivor_request"))

    assert events == [IdentityErased(erased_by="sup-zarina", reason_code="survivor_request")]
    case = given(*history, *events)
    assert case is not None and case.identity_erased
    # the clear routing fields stay for statistics; the sealed ones are now unreadable
    assert case.profile == profile()


def test_a_closed_case_can_be_erased() -> None:
    events = when(CLOSED, EraseIdentity(erased_by="adm-1", reason_code="retention_expired"))

    assert events == [IdentityErased(erased_by="adm-1", reason_code="retention_expired")]


def test_every_read_of_identifying_fields_is_recorded() -> None:
    command = RecordAccess(
        who="cw-dilnoza",
        role="caseworker",
        fields=["profile.given_name", "profile.date_of_birth"],
        endpoint="GET /cases/{id}",
    )

    events = when([opened(), profiled()], command)

    assert events == [
        CaseAccessed(
            who="cw-dilnoza",
            role="caseworker",
            fields=["profile.given_name", "profile.date_of_birth"],
            endpoint="GET /cases/{id}",
        )
    ]
    assert given(opened(), profiled(), *events) == given(opened(), profiled())


def test_reads_are_recorded_on_closed_and_erased_cases_too() -> None:
    command = RecordAccess(who="aud-1", role="auditor", fields=["notes"], endpoint="GET /x")

    assert [type(e) for e in when(CLOSED, command)] == [CaseAccessed]
    assert [type(e) for e in when(ERASED, command)] == [CaseAccessed]


REFUSED_WHEN_CLOSED: list[CaseCommand] = [
    RecordProfile(profile=profile()),
    UpdateProfile(profile=profile(age_band="25-39")),
    AssessNeeds(needs=["shelter"]),
    RecordIdentification(status="presumed", basis="indicators_present", deciding_agency="police"),
    GiveConsent(
        consent_id="c2", purpose="referral", service_types=["shelter"], data_categories=["needs"]
    ),
    RequestReferral(referral_id=REFERRAL_ID, needs=["shelter"], urgency="emergency"),
    AddNote(note_id="n1", note=sealed("x")),
    CloseCase(reason="duplicate"),
    TransferCase(to_caseworker="cw-farrukh"),
]


@pytest.mark.parametrize("command", REFUSED_WHEN_CLOSED, ids=lambda c: type(c).__name__)
def test_a_closed_case_takes_nothing_new_until_reopened(command: CaseCommand) -> None:
    with pytest.raises(CaseClosedError, match="reopen"):
        when(CLOSED, command)


REFUSED_WHEN_ERASED: list[CaseCommand] = [
    *[c for c in REFUSED_WHEN_CLOSED if not isinstance(c, CloseCase)],
    ReopenCase(reason="new_needs"),
    EraseIdentity(erased_by="sup-zarina", reason_code="other"),
]


@pytest.mark.parametrize("command", REFUSED_WHEN_ERASED, ids=lambda c: type(c).__name__)
def test_after_erasure_nothing_new_is_recorded_about_the_person(command: CaseCommand) -> None:
    with pytest.raises(IdentityErasedError):
        when(ERASED, command)
    with pytest.raises(IdentityErasedError):
        when([*ERASED, CaseClosed(reason="survivor_declined")], command)


def test_an_erased_case_can_still_be_wound_down() -> None:
    assert when(ERASED, CloseCase(reason="survivor_declined")) == [
        CaseClosed(reason="survivor_declined")
    ]
    assert when(ERASED, WithdrawConsent(consent_id="consent-1")) == [
        ConsentWithdrawn(consent_id="consent-1")
    ]
