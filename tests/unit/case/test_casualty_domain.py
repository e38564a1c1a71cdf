"""Casualty records as a small aggregate: recorded once, corrected in its region until
its identity is erased (issue 14)."""

from __future__ import annotations

import pytest

from services.case.domain.casualty import (
    CorrectCasualty,
    EraseCasualty,
    RecordCasualty,
    decide_casualty,
    fold_casualty,
)
from services.case.domain.errors import CaseNotFound, IdentityErasedError, InvalidTransition
from shared.crypto import case_aad, seal
from shared.events.case_person import CasualtyCorrected

KEY, STREAM = b"k" * 32, "casualty-0190a0c4-0000-7000-8000-00000000abcd"
SEALED = seal(KEY, STREAM, {"given_name": "Рустам"}, case_aad(STREAM))
CLEAR = {"sex": "male", "age_band": "12-17", "incident_district": "rasht", "region": "drs"}


def recorded() -> list[object]:
    command = RecordCasualty(identifying=SEALED, caseworker="cw-garm", office="garm", **CLEAR)
    return list(decide_casualty(None, command))


def correction(**change: str) -> CorrectCasualty:
    return CorrectCasualty(identifying=SEALED, corrected_by="sup-drs", **{**CLEAR, **change})


def test_a_correction_replaces_the_record_and_keeps_its_scope() -> None:
    events = recorded()
    state = fold_casualty(events)  # type: ignore[arg-type]
    [event] = decide_casualty(state, correction(incident_district="garm"))
    assert isinstance(event, CasualtyCorrected) and event.incident_district == "garm"
    after = fold_casualty([*events, event])  # type: ignore[list-item]
    assert after is not None and after.region == "drs" and after.caseworker == "cw-garm"
    assert after.corrections == 1


def test_a_correction_into_another_region_is_refused() -> None:
    state = fold_casualty(recorded())  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        decide_casualty(state, correction(region="sughd", incident_district="khujand"))


def test_no_correction_of_an_unknown_or_erased_record() -> None:
    with pytest.raises(CaseNotFound):
        decide_casualty(None, correction())
    state = fold_casualty(recorded())  # type: ignore[arg-type]
    erase = EraseCasualty(erased_by="admin-1", reason_code="survivor_request")
    erased = fold_casualty([*recorded(), *decide_casualty(state, erase)])  # type: ignore[list-item]
    with pytest.raises(IdentityErasedError):
        decide_casualty(erased, correction())
