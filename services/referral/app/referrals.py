"""Load → decide → append → project, for one referral stream, in the caller's transaction.

Every command that may route (open, decline, escalate) decides on the directory as it
stands, read under the directory lock (``routing_view``). Accepting takes a place, so it
is serialised per provider and refused when the provider is full (see docs/routing.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.referral.app.directory_store import (
    DirectoryCache,
    lock_directory,
    lock_provider_places,
    places_in_use,
    routing_view,
)
from services.referral.app.projection import Projection
from services.referral.domain.commands import (
    AcceptReferral,
    AssignProvider,
    ChaseDataDeletion,
    Command,
    DeclineReferral,
    EscalateReferral,
    OpenReferral,
    RerouteReferral,
)
from services.referral.domain.decide import decide
from services.referral.domain.directory_view import DirectoryView
from services.referral.domain.errors import ReferralError, ReferralNotFound
from services.referral.domain.evolve import evolve, replay
from services.referral.domain.sla import Slas
from services.referral.domain.state import Referral
from shared.commands import StaleVersion, load
from shared.envelope import Actor
from shared.events.base import Event
from shared.eventstore import EventStore, NewEvent
from shared.times import Clock, utc_now


class ProviderFull(ReferralError):
    """Accepting would take more places than the provider's capacity (HTTP 409)."""

    code = "provider_full"

    def __init__(self, provider_id: str, capacity: int) -> None:
        super().__init__(
            f"provider {provider_id} has all {capacity} places in use: "
            "raise its capacity or decline with no_capacity"
        )


@dataclass(frozen=True)
class Outcome:
    state: Referral | None
    version: int
    events: list[Event]


# Commands decided on the directory: those that route, and the deletion timer (which
# names the coordinator to escalate to).
_ROUTING = (
    OpenReferral,
    DeclineReferral,
    EscalateReferral,
    ChaseDataDeletion,
    AssignProvider,
    RerouteReferral,
)


class Referrals:
    def __init__(
        self, store: EventStore, cache: DirectoryCache, slas: Slas, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.cache = cache
        self.slas = slas
        self.clock = clock
        self.projection = Projection(store.schema)

    async def run(
        self,
        conn: asyncpg.Connection,
        command: Command,
        *,
        actor: Actor,
        correlation_id: str,
        causation_id: str | None = None,
        expected_version: int | None = None,
        now: datetime | None = None,
        origin: dict[str, str | None] | None = None,
    ) -> Outcome:
        """Decide ``command`` and write its events and the view row (caller commits).

        Raises ``StaleVersion``, ``ConcurrencyError`` (a concurrent writer won) and
        ``ReferralError``.
        """
        now = now or self.clock()
        directory = DirectoryView()
        if isinstance(command, _ROUTING):
            directory = await routing_view(conn, self.cache)
        loaded = await load(self.store, command.referral_id, replay, conn=conn)
        if expected_version is not None and expected_version != loaded.version:
            if loaded.version == 0:
                raise ReferralNotFound(command.referral_id)
            raise StaleVersion(loaded.version)
        if isinstance(command, AcceptReferral):
            await self._check_place(conn, loaded.state, command.provider_id)
        events = decide(loaded.state, command, now, directory, self.slas)
        if not events:
            return Outcome(loaded.state, loaded.version, [])
        await self.store.append(
            command.referral_id,
            loaded.version,
            [NewEvent(e, actor, correlation_id, causation_id, occurred_at=now) for e in events],
            conn=conn,
        )
        state = loaded.state
        for event in events:
            state = evolve(state, event)
        assert state is not None
        version = loaded.version + len(events)
        await self.projection.save(conn, state, events, version, now, origin)
        return Outcome(state, version, events)

    async def _check_place(
        self, conn: asyncpg.Connection, state: Referral | None, provider_id: str
    ) -> None:
        if state is None or state.provider_id != provider_id or state.status != "awaiting_answer":
            return  # decide refuses it with the right error
        await lock_directory(conn, exclusive=False)
        await lock_provider_places(conn, provider_id)
        view, _ = await self.cache.current(conn)
        provider = view.providers.get(provider_id)
        if provider is None or provider.capacity is None:
            return
        used = (await places_in_use(conn, self.store.schema)).get(provider_id, 0)
        if used >= provider.capacity:
            raise ProviderFull(provider_id, provider.capacity)
