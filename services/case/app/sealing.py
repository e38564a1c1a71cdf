"""Identifying data in and out of ciphertext, with the case's own key.

Everything identifying is sealed here, before a command reaches ``decide``; the clear
routing fields (age band included) are computed here from the plaintext, so the domain
and the events never hold a name or a birth date in clear.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from services.case.domain.errors import IdentityErasedError
from shared.crypto import case_aad, open_sealed, seal
from shared.events.base import Sealed
from shared.events.case import IdentifyingDetails, SurvivorProfile
from shared.events.vocabulary import age_band


def years_between(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def band_for(details: IdentifyingDetails, today: date) -> str:
    """The age band from the date of birth, else the estimated age, else ``unknown``."""
    if details.date_of_birth is not None:
        return age_band(years_between(details.date_of_birth, today))
    return age_band(details.estimated_age_years)


def _require(key: bytes | None) -> bytes:
    if key is None:
        # The key is gone: nothing identifying can be recorded about this person any more.
        raise IdentityErasedError("record identifying data")
    return key


def seal_details(key: bytes | None, case_id: str, details: IdentifyingDetails) -> Sealed:
    return seal(_require(key), case_id, details.model_dump(mode="json"), case_aad(case_id))


def seal_text(key: bytes | None, case_id: str, text: str | None) -> Sealed | None:
    """A free-text note or reason, sealed as ``{"text": ...}`` (None stays None)."""
    if text is None:
        return None
    return seal(_require(key), case_id, {"text": text}, case_aad(case_id))


def seal_profile(
    key: bytes | None,
    case_id: str,
    details: IdentifyingDetails,
    clear: dict[str, Any],
    now: datetime,
    *,
    previous: SurvivorProfile | None = None,
) -> SurvivorProfile:
    """The profile as events carry it. ``clear`` holds the routing fields (no age band).

    When the identifying details equal those already sealed in ``previous``, that
    ciphertext is reused, so re-sending an unchanged profile decides nothing.
    """
    sealed: Sealed | None = None
    if previous is not None and key is not None:
        if open_details(key, case_id, previous.identifying) == details:
            sealed = previous.identifying
    if sealed is None:
        sealed = seal_details(key, case_id, details)
    return SurvivorProfile(identifying=sealed, age_band=band_for(details, now.date()), **clear)


def open_details(key: bytes, case_id: str, sealed: Sealed) -> IdentifyingDetails:
    return IdentifyingDetails.model_validate(open_sealed(key, sealed, case_aad(case_id)))


def open_text(key: bytes, case_id: str, sealed: Sealed | None) -> str | None:
    if sealed is None:
        return None
    return str(open_sealed(key, sealed, case_aad(case_id))["text"])
