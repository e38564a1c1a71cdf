"""Whatever a caseworker does, in any order, the rules hold (property-based)."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from services.case.domain import decide, evolve
from services.case.domain.commands import (
    AddNote,
    CaseCommand,
    CloseCase,
    EraseIdentity,
    GiveConsent,
    RecordIdentification,
    RecordProfile,
    ReopenCase,
    RequestReferral,
    WithdrawConsent,
)
from services.case.domain.errors import DomainError
from services.case.domain.state import Case
from shared.events.case import ReferralRequested

from .builders import NOW, opened, profile, sealed

CONSENT_IDS = ["c1", "c2"]
NEEDS = st.lists(st.sampled_from(["shelter", "medical", "legal_aid"]), min_size=1, unique=True)

commands: st.SearchStrategy[CaseCommand] = st.one_of(
    st.builds(RecordProfile, profile=st.just(profile())),
    st.builds(
        GiveConsent,
        consent_id=st.sampled_from(CONSENT_IDS),
        purpose=st.sampled_from(["referral", "statistics"]),
        service_types=NEEDS,
        data_categories=st.just(["needs", "demographics"]),
        expires_at=st.one_of(st.none(), st.just(NOW + timedelta(days=3))),
    ),
    st.builds(WithdrawConsent, consent_id=st.sampled_from(CONSENT_IDS)),
    st.builds(
        RequestReferral,
        referral_id=st.uuids().map(str),
        needs=NEEDS,
        urgency=st.sampled_from(["routine", "urgent", "emergency"]),
        emergency_reason=st.one_of(st.none(), st.just(sealed("reason"))),
    ),
    st.builds(AddNote, note_id=st.sampled_from(["n1", "n2"]), note=st.just(sealed("n"))),
    st.builds(CloseCase, reason=st.just("lost_contact")),
    st.builds(ReopenCase, reason=st.just("new_needs")),
    st.builds(
        RecordIdentification,
        status=st.sampled_from(["presumed", "identified", "not_identified"]),
        basis=st.just("other"),
        deciding_agency=st.just("imcctip"),
    ),
    st.builds(EraseIdentity, erased_by=st.just("sup-1"), reason_code=st.just("other")),
)


def covered(case: Case, event: ReferralRequested, now_days: int) -> bool:
    consent = case.consent(event.consent.consent_id or "")
    now = NOW + timedelta(days=now_days)
    return consent is not None and consent.is_active(now) and consent.covers_referral(event.needs)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(commands, st.integers(min_value=0, max_value=5)), max_size=25))
def test_no_referral_ever_leaves_without_covering_consent_or_a_recorded_emergency(
    steps: list[tuple[CaseCommand, int]],
) -> None:
    case = evolve(None, opened())
    for command, day in steps:
        try:
            events = decide(case, command, NOW + timedelta(days=day))
        except DomainError:
            continue  # refused: nothing decided, nothing changes
        for event in events:
            if isinstance(event, ReferralRequested):
                assert case.status == "open" and case.profile is not None
                assert not case.identity_erased
                if event.emergency_without_consent:
                    assert event.urgency == "emergency" and event.emergency_reason is not None
                else:
                    assert covered(case, event, day)
            case = evolve(case, event)
