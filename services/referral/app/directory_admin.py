"""Directory changes made through the API; each is one directory event (or none).

Runs under the exclusive directory lock so it decides on the directory as it stands and
no routing decision sees half of a change.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from services.referral.app.directory_store import DirectoryCache, append_directory, lock_directory
from services.referral.domain.directory_view import DirectoryView, evolve_directory
from shared.envelope import Actor
from shared.events.base import Event
from shared.events.referral import (
    CapacityChanged,
    Provider,
    ProviderRegistered,
    ProviderReinstated,
    ProviderSuspended,
    ProviderUpdated,
    SuspensionReason,
)


class UnknownProvider(Exception):
    pass


class ProviderExists(Exception):
    pass


@dataclass(frozen=True)
class Register:
    provider: Provider


@dataclass(frozen=True)
class Update:
    provider: Provider


@dataclass(frozen=True)
class Suspend:
    provider_id: str
    reason_code: SuspensionReason


@dataclass(frozen=True)
class Reinstate:
    provider_id: str


@dataclass(frozen=True)
class SetCapacity:
    provider_id: str
    capacity: int | None


DirectoryCommand = Register | Update | Suspend | Reinstate | SetCapacity


def decide_directory(view: DirectoryView, command: DirectoryCommand) -> list[Event]:
    """The directory event of ``command``; [] when it changes nothing (a repeat)."""
    if isinstance(command, Register):
        if command.provider.id in view.providers:
            raise ProviderExists(command.provider.id)
        return [ProviderRegistered(provider=command.provider)]
    pid = command.provider.id if isinstance(command, Update) else command.provider_id
    current = view.providers.get(pid)
    if current is None:
        raise UnknownProvider(pid)
    if isinstance(command, Update):
        return [] if current == command.provider else [ProviderUpdated(provider=command.provider)]
    if isinstance(command, Suspend):
        if pid in view.suspended:
            return []
        return [ProviderSuspended(provider_id=pid, reason_code=command.reason_code)]
    if isinstance(command, Reinstate):
        return [ProviderReinstated(provider_id=pid)] if pid in view.suspended else []
    if current.capacity == command.capacity:
        return []
    return [CapacityChanged(provider_id=pid, capacity=command.capacity)]


async def change_directory(
    conn: asyncpg.Connection,
    cache: DirectoryCache,
    command: DirectoryCommand,
    actor: Actor,
    correlation_id: str,
) -> DirectoryView:
    """Apply ``command`` in the caller's transaction; the directory view after it."""
    await lock_directory(conn, exclusive=True)
    view, version = await cache.current(conn)
    events = decide_directory(view, command)
    await append_directory(conn, cache, version, events, actor, correlation_id)
    for event in events:
        view = evolve_directory(view, event)
    return view
