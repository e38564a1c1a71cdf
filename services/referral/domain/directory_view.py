"""The directory as routing sees it at one moment, folded from directory events.

Routing never reads the file: it reads this view, which is rebuilt from the
``Directory`` stream, so a decision can be replayed against the directory as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from services.referral.domain.directory import Directory
from shared.events.base import Event
from shared.events.referral import (
    CapacityChanged,
    Coordinator,
    CoordinatorAssigned,
    DirectoryImported,
    Provider,
    ProviderRegistered,
    ProviderReinstated,
    ProviderSuspended,
    ProviderUpdated,
)


@dataclass(frozen=True)
class DirectoryView:
    """Providers by id, coordinators by category, suspensions, places in use."""

    providers: Mapping[str, Provider] = field(default_factory=dict)
    coordinators: Mapping[str, Coordinator] = field(default_factory=dict)
    suspended: frozenset[str] = frozenset()
    in_use: Mapping[str, int] = field(default_factory=dict)  # see capacity.py
    imported_version: int | None = None

    def with_in_use(self, in_use: Mapping[str, int]) -> DirectoryView:
        return replace(self, in_use=dict(in_use))


def view_of(directory: Directory, in_use: Mapping[str, int] | None = None) -> DirectoryView:
    """A view straight from a parsed file (tests, benchmarks, ``directory validate``)."""
    return DirectoryView(
        providers={p.id: p for p in directory.providers},
        coordinators={c.category: c for c in directory.coordinators},
        in_use=dict(in_use or {}),
        imported_version=directory.version,
    )


def evolve_directory(view: DirectoryView, event: Event) -> DirectoryView:
    if isinstance(event, ProviderRegistered | ProviderUpdated):
        return replace(view, providers={**view.providers, event.provider.id: event.provider})
    if isinstance(event, CapacityChanged) and event.provider_id in view.providers:
        provider = view.providers[event.provider_id].model_copy(update={"capacity": event.capacity})
        return replace(view, providers={**view.providers, provider.id: provider})
    if isinstance(event, ProviderSuspended):
        return replace(view, suspended=view.suspended | {event.provider_id})
    if isinstance(event, ProviderReinstated):
        return replace(view, suspended=view.suspended - {event.provider_id})
    if isinstance(event, CoordinatorAssigned):
        coordinator = event.coordinator
        return replace(view, coordinators={**view.coordinators, coordinator.category: coordinator})
    if isinstance(event, DirectoryImported):
        return replace(view, imported_version=event.directory_version)
    return view


def import_directory(view: DirectoryView, directory: Directory) -> list[Event]:
    """The events that bring the store's directory up to a file's version (start-up load).

    Nothing when the file is not newer than the last import, so a restart with the same
    file changes nothing and capacity edits made through the API survive it. A newer file
    wins for every entry it names; entries only added through the API are left alone.
    """
    if view.imported_version is not None and directory.version <= view.imported_version:
        return []
    events: list[Event] = []
    for provider in directory.providers:
        current = view.providers.get(provider.id)
        if current is None:
            events.append(ProviderRegistered(provider=provider))
        elif current != provider:
            events.append(ProviderUpdated(provider=provider))
    for coordinator in directory.coordinators:
        if view.coordinators.get(coordinator.category) != coordinator:
            events.append(CoordinatorAssigned(coordinator=coordinator))
    events.append(DirectoryImported(directory_version=directory.version))
    return events
