"""Handover to the provider that accepted (issue 13 item 2, docs/case-domain.md).

A shelter that accepts learns who is arriving, within the survivor's consent: the
accepting provider reads over HTTPS exactly the identifying fields of the data categories
the consent lets the case share with it, while the referral is accepted or in service and
the consent in force. Nothing of it goes onto the bus or into a notification; every read
is recorded on the case (``CaseAccessed``) before the data leaves.

Which provider holds which referral the case service knows from the referral events it
consumes (``case_referral_status``); the consent and the sealed profile are the case's own.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.case.app.loading import load_case
from services.case.app.sealing import open_details
from services.case.domain import Case
from services.case.domain.state import Consent
from shared.eventstore import EventStore

# What each data category hands over: the fields a provider needs to receive the person.
HANDOVER_FIELDS: dict[str, tuple[str, ...]] = {
    "identity": ("given_name", "family_name"),
    "contact": ("contact_arrangement",),
}
HANDED_OVER_WHILE = ("accepted", "in_service")


class NoHandover(Exception):
    """No such referral for this provider, or not (or no longer) accepted: 404."""


class HandoverNotConsented(Exception):
    """The consent does not let the case share identifying data with this provider: 403."""

    def __init__(self, detail: str, missing: tuple[str, ...]) -> None:
        super().__init__(detail)
        self.detail = detail
        self.missing = missing


@dataclass(frozen=True)
class Handover:
    case_id: str
    case: Case
    categories: tuple[str, ...]
    fields: dict[str, str | None]


async def read_handover(
    pool: asyncpg.Pool,
    store: EventStore,
    key_of: Any,
    provider_id: str,
    referral_id: str,
    now: datetime,
) -> Handover:
    """The fields the consent lets ``provider_id`` read for ``referral_id`` (not recorded
    yet: the caller records the access before answering)."""
    row = await pool.fetchrow(
        """SELECT case_id, request_id, need, status, provider_id
           FROM "case".case_referral_status WHERE referral_id = $1""",
        referral_id,
    )
    if row is None or row["provider_id"] != provider_id:
        raise NoHandover()
    if row["status"] not in HANDED_OVER_WHILE:
        raise NoHandover()
    case_id = row["case_id"]
    case = (await load_case(store, case_id)).state
    if case is None or case.profile is None or case.identity_erased:
        raise NoHandover()
    consent = _consent_of(case, row["request_id"], referral_id)
    if consent is None or not consent.is_active(now):
        raise HandoverNotConsented(
            "No consent in force lets the case share identifying data for this referral.",
            tuple(HANDOVER_FIELDS),
        )
    if row["need"] not in consent.service_types and provider_id not in consent.provider_ids:
        raise HandoverNotConsented(
            "The consent does not name this provider or its service.", tuple(HANDOVER_FIELDS)
        )
    categories = tuple(c for c in HANDOVER_FIELDS if c in consent.data_categories)
    if not categories:
        raise HandoverNotConsented(
            "The consent does not let the case share identity or contact data.",
            tuple(HANDOVER_FIELDS),
        )
    key = await key_of(case_id)
    if key is None:
        raise NoHandover()
    details = open_details(key, case_id, case.profile.identifying).model_dump()
    fields = {name: details.get(name) for c in categories for name in HANDOVER_FIELDS[c]}
    return Handover(case_id, case, categories, fields)


def _consent_of(case: Case, request_id: str | None, referral_id: str) -> Consent | None:
    for requested in case.referrals:
        ids = {requested.referral_id} | {
            str(uuid.uuid5(uuid.UUID(requested.referral_id), n)) for n in requested.needs
        }
        if requested.referral_id == request_id or referral_id in ids:
            return case.consent(requested.consent_id) if requested.consent_id else None
    return None
