"""Referral requests: share the routing fields only under a consent that covers them.

A consent covers a request when it is active at ``now`` (not withdrawn, not expired), is for
the purpose ``referral``, lets us share ``needs`` and ``demographics``, and names every need
among its service types or names providers (see ``Consent.covers_referral``). Without
one, only an ``emergency`` with a recorded reason proceeds, flagged
``emergency_without_consent``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from services.case.domain.commands import RequestReferral
from services.case.domain.errors import (
    ConsentNotFound,
    ConsentRequired,
    EmergencyReasonRequired,
    ProfileRequired,
    ReferralAlreadyRequested,
)
from services.case.domain.follow_up_service import check_follow_up_service
from services.case.domain.state import Case, Consent
from shared.events.case import NO_CONSENT, ReferralRequested
from shared.events.vocabulary import ServiceType


def request_referral(state: Case, command: RequestReferral, now: datetime) -> ReferralRequested:
    if state.referral(command.referral_id) is not None:
        raise ReferralAlreadyRequested(command.referral_id)
    profile = state.profile
    if profile is None:
        raise ProfileRequired("request a referral")
    check_follow_up_service(state, command.follows_up, command.earlier, command.needs)
    consent = _covering_consent(state, command, now)
    without_consent = consent is None
    if without_consent:
        if command.urgency != "emergency":
            raise ConsentRequired(_why_not_covered(state, command, now))
        if command.emergency_reason is None:
            raise EmergencyReasonRequired()
    return ReferralRequested(
        referral_id=command.referral_id,
        needs=command.needs,
        urgency=command.urgency,
        categories=profile.categories,
        region=profile.region,
        district=profile.district,
        sex=profile.sex,
        age_band=profile.age_band,
        language=profile.language,
        interpreter_needed=profile.interpreter_needed,
        disability=profile.disability,
        consent=NO_CONSENT if consent is None else consent.scope(),
        emergency_without_consent=without_consent,
        emergency_reason=command.emergency_reason,
        note=command.note,
        office=state.office,
        caseworker=state.caseworker,
        follows_up=command.follows_up,
    )


def _covering_consent(state: Case, command: RequestReferral, now: datetime) -> Consent | None:
    """The named consent if it covers, else (none named) the newest consent that covers."""
    if command.consent_id is not None:
        named = state.consent(command.consent_id)
        if named is None:
            raise ConsentNotFound(command.consent_id)
        return named if _covers(named, command.needs, now) else None
    return next((c for c in reversed(state.consents) if _covers(c, command.needs, now)), None)


def _covers(consent: Consent, needs: Sequence[ServiceType], now: datetime) -> bool:
    return consent.is_active(now) and consent.covers_referral(needs)


def _why_not_covered(state: Case, command: RequestReferral, now: datetime) -> str:
    needs = ", ".join(command.needs)
    if command.consent_id is None:
        return f"no active consent for referral covers the needs: {needs}"
    consent = state.consent(command.consent_id)
    assert consent is not None  # _covering_consent raised ConsentNotFound otherwise
    if consent.withdrawn:
        return f"consent {consent.consent_id} was withdrawn"
    if not consent.is_active(now):
        return f"consent {consent.consent_id} has expired"
    return f"consent {consent.consent_id} does not cover a referral for the needs: {needs}"
