"""Directory entries say where their facts come from (``source``, ``as_of``); an entry
that fills a gap without a source is illustrative, and says so."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.events import registry
from shared.events.referral import Provider

from .builders import default_view, provider


def test_every_default_entry_has_a_source_and_year_or_is_marked_illustrative() -> None:
    providers = list(default_view().providers.values())

    sourced = [p for p in providers if p.source is not None]
    assert all(p.as_of == "2025" and not p.illustrative for p in sourced)
    assert all(p.illustrative for p in providers if p.source is None)
    assert {p.id for p in providers if p.illustrative} == {
        "legal-aid-centres-dushanbe",
        "legal-aid-centres-sughd",
        "legal-aid-centres-khatlon",
        "legal-aid-centres-gbao",
        "legal-aid-centres-drs",
    }
    assert "Femida" in (default_view().providers["femida-shelter-dushanbe"].source or "")


def test_an_entry_without_a_source_is_illustrative_and_cannot_claim_otherwise() -> None:
    assert provider("no-source").illustrative
    data = provider("no-source").model_dump()
    with pytest.raises(ValidationError, match="without a source must be illustrative"):
        Provider.model_validate({**data, "source": None, "illustrative": False})
    with pytest.raises(ValidationError):
        Provider.model_validate({**data, "source": "agreement", "as_of": "last spring"})


def test_a_v1_directory_event_reads_as_an_illustrative_entry() -> None:
    data = provider("old-entry").model_dump(mode="json")
    for key in ("source", "as_of", "illustrative"):
        data.pop(key)

    event = registry.load("org.safepath.referral.ProviderRegistered.v1", {"provider": data})

    assert event.provider.illustrative and event.provider.source is None  # type: ignore[attr-defined]
