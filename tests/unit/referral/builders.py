"""Small builders for referral tests: people's routing facts, consents, providers."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from services.referral.app.directory_file import load_directory
from services.referral.data import DEFAULT_DIRECTORY
from services.referral.domain.directory_view import DirectoryView, view_of
from services.referral.domain.routing import RoutingFacts
from shared.events.case import ConsentScope
from shared.events.referral import Coordinator, Provider
from shared.events.vocabulary import SERVICE_TYPES

DEFAULT_DIRECTORY_FILE = DEFAULT_DIRECTORY
NOW = datetime(2025, 6, 2, 9, 0, tzinfo=UTC)


def default_view(in_use: dict[str, int] | None = None) -> DirectoryView:
    return view_of(load_directory(DEFAULT_DIRECTORY_FILE), in_use)


def consent(
    service_types: Any = (),
    provider_ids: Any = (),
    expires_at: datetime | None = None,
    consent_id: str | None = "consent-1",
) -> ConsentScope:
    return ConsentScope(
        consent_id=consent_id,
        service_types=list(service_types),
        provider_ids=list(provider_ids),
        data_categories=["needs", "demographics"],
        expires_at=expires_at,
    )


EVERY_SERVICE = consent(service_types=SERVICE_TYPES)
NO_CONSENT = consent(consent_id=None)

ADULT_WOMAN_IN_KHUJAND = RoutingFacts(
    categories=("trafficking",),
    region="sughd",
    district="khujand",
    sex="female",
    age_band="25-39",
    language="tg",
    disability=False,
)


def facts(**changes: Any) -> RoutingFacts:
    return replace(ADULT_WOMAN_IN_KHUJAND, **changes)


def provider(provider_id: str, **changes: Any) -> Provider:
    """An open-to-all trafficking shelter in Sughd unless told otherwise."""
    data: dict[str, Any] = {
        "id": provider_id,
        "name": {"en": provider_id},
        "org_type": "ngo",
        "area": {"regions": ["sughd"]},
        "categories": ["trafficking"],
        "services": ["shelter"],
        "languages": ["tg"],
        "contact": {"subject": provider_id},
    }
    data.update(changes)
    return Provider.model_validate(data)


COORDINATORS = {
    category: Coordinator(
        id=f"coordinator-{category.replace('_', '-')}",
        category=category,
        name={"en": category},
        contact={"subject": f"coordinator.{category.replace('_', '-')}"},
    )
    for category in ("trafficking", "mine_eo", "refugee_asylum")
}


def view(*providers: Provider, **changes: Any) -> DirectoryView:
    base = DirectoryView(providers={p.id: p for p in providers}, coordinators=COORDINATORS)
    return replace(base, **changes)
