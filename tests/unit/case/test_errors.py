"""Refusals carry a stable code and a message with no identifying data."""

from __future__ import annotations

import pytest

from services.case.domain import errors
from services.case.domain.commands import (
    AddNote,
    CaseCommand,
    RecordProfile,
    RequestReferral,
    WithdrawConsent,
)
from shared.events.base import Event
from shared.events.case import CaseClosed, CaseNoteAdded

from .builders import opened, profile, profiled, sealed, when

SECRET = "Gulnora Rahimova"


def test_every_domain_error_has_its_own_code() -> None:
    classes = [
        c
        for c in vars(errors).values()
        if isinstance(c, type) and issubclass(c, errors.DomainError) and c is not errors.DomainError
    ]
    codes = [c.code for c in classes]

    assert len(classes) >= 15
    assert len(set(codes)) == len(codes)
    assert "domain_error" not in codes


@pytest.mark.parametrize(
    ("history", "command"),
    [
        ([opened(), profiled(identifying=sealed(SECRET))], RecordProfile(profile=profile())),
        (
            [opened(), CaseNoteAdded(note_id="n1", note=sealed(SECRET))],
            AddNote(note_id="n1", note=sealed(SECRET)),
        ),
        (
            [opened(), profiled(identifying=sealed(SECRET))],
            RequestReferral(
                referral_id="0f8e6b1e-3f1c-4a53-9a55-6a4f3b0d2c11",
                needs=["shelter"],
                urgency="emergency",
                note=sealed(SECRET),
            ),
        ),
        (
            [opened(), CaseClosed(reason="duplicate")],
            AddNote(note_id="n2", note=sealed(SECRET)),
        ),
        ([opened()], WithdrawConsent(consent_id="consent-7")),
    ],
)
def test_refusal_messages_carry_no_sealed_or_identifying_content(
    history: list[Event], command: CaseCommand
) -> None:
    with pytest.raises(errors.DomainError) as raised:
        when(history, command)

    message = str(raised.value)
    assert message == raised.value.message
    assert SECRET not in message
    assert sealed(SECRET).ct not in message
    assert "case-key" not in message
