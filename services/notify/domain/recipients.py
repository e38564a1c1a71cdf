"""Who must hear what when a referral event happens.

- ``ReferralRouted``: the chosen provider gets "new referral".
- ``ReferralEscalated`` / ``ReferralUnroutable``: the national coordinator of each of the
  referral's categories (or the coordinators the event names).
- ``ReferralAccepted`` / ``ReferralDeclined`` / ``ServiceCompleted`` /
  ``ServiceOutcomeRecorded`` / ``ReferralClosedUnmet`` (no provider exists): the case's
  caseworker.
- ``DataDeletionRequested`` / ``DataDeletionReminded``: every provider the event names
  ("stop and delete"); ``DataDeletionEscalated``: the coordinator it names (or of each
  category).

Everything else is nobody's business: no plans.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notify.domain.referral_facts import ReferralFacts
from shared.events.base import Event
from shared.events.notify import Channel, RecipientKind, TemplateName
from shared.events.referral import (
    DataDeletionEscalated,
    DataDeletionReminded,
    DataDeletionRequested,
    ReferralAccepted,
    ReferralClosedUnmet,
    ReferralDeclined,
    ReferralEscalated,
    ReferralRouted,
    ReferralUnroutable,
    ServiceCompleted,
    ServiceOutcomeRecorded,
)

DEFAULT_LANGUAGE = "en"


@dataclass(frozen=True)
class Contact:
    """A recipient as the directory knows it."""

    id: str
    language: str = DEFAULT_LANGUAGE
    has_webhook: bool = False  # a webhook endpoint is registered (and NATS is always there)


class DirectoryLookup(Protocol):
    """Read-only view of the service directory and case assignments. None = not known."""

    def provider(self, provider_id: str) -> Contact | None: ...

    def coordinator(self, category: str) -> Contact | None: ...

    def caseworker(self, case_id: str) -> Contact | None: ...


@dataclass(frozen=True)
class NotificationPlan:
    """One notification to send: to whom, on which channels, with which template."""

    recipient_kind: RecipientKind
    recipient_id: str
    template: TemplateName
    language: str  # the recipient's language; rendering falls back to "en"
    channels: tuple[Channel, ...]
    facts: ReferralFacts


_TEMPLATE_FOR: dict[type[Event], TemplateName] = {
    ReferralRouted: "new_referral",
    ReferralEscalated: "referral_escalated",
    ReferralUnroutable: "referral_unroutable",
    ReferralAccepted: "referral_accepted",
    ReferralDeclined: "referral_declined",
    ServiceCompleted: "service_completed",
    ServiceOutcomeRecorded: "service_outcome_recorded",  # the caseworker confirms it
    ReferralClosedUnmet: "need_unmet",  # the caseworker revisits the plan
    DataDeletionRequested: "referral_withdrawn",
    DataDeletionReminded: "data_deletion_reminder",
    DataDeletionEscalated: "data_deletion_overdue",
}


def who_hears_what(
    event: Event, facts: ReferralFacts, directory_lookup: DirectoryLookup
) -> list[NotificationPlan]:
    """The notifications ``event`` calls for (empty when it calls for none); ``facts``
    are the referral's, as ``referral_facts`` reads them from the event."""
    template = _TEMPLATE_FOR.get(type(event))
    if template is None:
        return []
    if isinstance(event, ReferralRouted):
        contacts = _provider(facts, directory_lookup)
        kind: RecipientKind = "provider"
    elif isinstance(event, DataDeletionRequested | DataDeletionReminded):
        # Every provider the referral reached, each in its own language.
        contacts = [directory_lookup.provider(p) or Contact(id=p) for p in event.provider_ids]
        kind = "provider"
    elif isinstance(event, ReferralEscalated | ReferralUnroutable | DataDeletionEscalated):
        contacts = _coordinators(facts, directory_lookup)
        kind = "coordinator"
    else:
        contacts = [_caseworker(facts, directory_lookup)]
        kind = "caseworker"
    return [
        NotificationPlan(
            recipient_kind=kind,
            recipient_id=c.id,
            template=template,
            language=c.language or DEFAULT_LANGUAGE,
            channels=("nats", "webhook") if c.has_webhook else ("nats",),
            facts=facts,
        )
        for c in contacts
    ]


def _provider(facts: ReferralFacts, directory: DirectoryLookup) -> list[Contact]:
    if facts.provider_id is None:
        return []
    # A provider missing from the directory still has its NATS subject: tell it in English.
    return [directory.provider(facts.provider_id) or Contact(id=facts.provider_id)]


def _coordinators(facts: ReferralFacts, directory: DirectoryLookup) -> list[Contact]:
    by_category = [c for c in (directory.coordinator(cat) for cat in facts.categories) if c]
    if facts.coordinator_ids:
        # The referral service named whom to alert; the directory only lends the language.
        known = {c.id: c for c in by_category}
        return [known.get(cid) or Contact(id=cid) for cid in facts.coordinator_ids]
    unique: dict[str, Contact] = {}
    for contact in by_category:
        unique.setdefault(contact.id, contact)
    return list(unique.values())


def _caseworker(facts: ReferralFacts, directory: DirectoryLookup) -> Contact:
    found = directory.caseworker(facts.case_id)
    if found is not None:
        return found
    # Nobody assigned that notify knows of: address the case's caseworkers by the case id.
    return Contact(id=facts.case_id)
