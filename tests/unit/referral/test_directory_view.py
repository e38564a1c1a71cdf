"""The directory as routing sees it: folded from directory events; places in use."""

from __future__ import annotations

from services.referral.app.directory_file import load_directory
from services.referral.domain.capacity import in_use
from services.referral.domain.directory import Directory
from services.referral.domain.directory_view import (
    DirectoryView,
    evolve_directory,
    import_directory,
)
from services.referral.domain.routing import route
from shared.events.base import Event
from shared.events.referral import (
    CapacityChanged,
    CoordinatorAssigned,
    DirectoryImported,
    ProviderRegistered,
    ProviderReinstated,
    ProviderSuspended,
    ProviderUpdated,
    ReferralAccepted,
    ReferralWithdrawn,
    ServiceCompleted,
    ServiceStarted,
)

from .builders import DEFAULT_DIRECTORY_FILE, EVERY_SERVICE, facts, provider


def fold(events: list[Event], view: DirectoryView | None = None) -> DirectoryView:
    view = view or DirectoryView()
    for event in events:
        view = evolve_directory(view, event)
    return view


def test_importing_the_default_file_registers_every_entry_once() -> None:
    directory = load_directory(DEFAULT_DIRECTORY_FILE)

    events = import_directory(DirectoryView(), directory)
    view = fold(events)

    assert sum(isinstance(e, ProviderRegistered) for e in events) == len(directory.providers)
    assert sum(isinstance(e, CoordinatorAssigned) for e in events) == 3
    assert events[-1] == DirectoryImported(directory_version=directory.version)
    assert import_directory(view, directory) == []  # a restart with the same file


def test_a_newer_file_updates_what_changed_and_keeps_api_edits_otherwise() -> None:
    directory = load_directory(DEFAULT_DIRECTORY_FILE)
    view = fold(import_directory(DirectoryView(), directory))
    buston = "women-and-society-shelter-buston"
    view = evolve_directory(view, CapacityChanged(provider_id=buston, capacity=30))
    changed = directory.model_copy(
        update={
            "version": directory.version + 1,
            "providers": [
                p.model_copy(update={"languages": ["tg", "ru", "en"]})
                if p.id == "umed-network"
                else p
                for p in directory.providers
            ],
        }
    )

    events = import_directory(view, changed)

    assert [type(e) for e in events] == [ProviderUpdated, ProviderUpdated, DirectoryImported]
    assert {e.provider.id for e in events if isinstance(e, ProviderUpdated)} == {
        "umed-network",
        buston,  # the file's capacity wins for an entry it names
    }
    assert isinstance(changed, Directory)


def test_a_suspended_provider_is_skipped_until_reinstated() -> None:
    view = fold(
        [
            ProviderRegistered(provider=provider("a-shelter")),
            ProviderRegistered(provider=provider("b-shelter")),
            ProviderSuspended(provider_id="a-shelter", reason_code="under_review"),
        ]
    )
    assert route("shelter", facts(), view, set(), EVERY_SERVICE).provider_id == "b-shelter"

    view = evolve_directory(view, ProviderReinstated(provider_id="a-shelter"))
    assert route("shelter", facts(), view, set(), EVERY_SERVICE).provider_id == "a-shelter"


def test_capacity_changes_replace_the_number_of_places() -> None:
    view = fold(
        [
            ProviderRegistered(provider=provider("a-shelter", capacity=1)),
            CapacityChanged(provider_id="a-shelter", capacity=None),
        ]
    )

    assert view.providers["a-shelter"].capacity is None


def test_a_place_is_taken_from_acceptance_until_completion_or_withdrawal() -> None:
    def ids(n: int) -> dict[str, str]:
        return {"referral_id": f"r{n}", "case_id": f"c{n}"}

    events: list[Event] = [
        ReferralAccepted(**ids(1), provider_id="shelter"),
        ReferralAccepted(**ids(2), provider_id="shelter"),
        ServiceStarted(**ids(2), provider_id="shelter"),
        ReferralAccepted(**ids(3), provider_id="shelter"),
        ReferralAccepted(**ids(4), provider_id="clinic"),
        ServiceCompleted(**ids(1), provider_id="shelter"),
        ReferralWithdrawn(**ids(3), provider_id="shelter", cause="case_closed"),
    ]

    assert in_use(events) == {"shelter": 1, "clinic": 1}
    assert in_use(events[:4]) == {"shelter": 3}
