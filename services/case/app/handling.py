"""Write use cases: load the case, check scope and version, decide, append, project.

All in the caller's transaction (the one that also holds the Idempotency-Key row), so a
case, its key, its events, its summary row and the stored response commit together.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.case.app.due_dates import project_due_dates
from services.case.app.loading import LoadedCase, load_case
from services.case.app.policy import in_scope
from services.case.app.projection import project
from services.case.app.reflection import project_reflection
from services.case.app.statistics.model import project as project_statistics
from services.case.app.timeline import record_own_events
from services.case.app.transfers import project_transfers
from services.case.domain import Case, decide, evolve, fold
from services.case.domain.commands import CaseCommand, OpenCase
from shared.auth import Principal
from shared.commands import StaleVersion, execute
from shared.crypto import PgKeyStore
from shared.envelope import Actor
from shared.events.base import Event
from shared.eventstore import EventStore, NewEvent
from shared.times import Clock, utc_now


class CaseNotVisible(Exception):
    """No such case, or one outside the caller's scope (answered alike: 404)."""


class OutOfScope(Exception):
    """The caller may not open a case there (region/office outside their scope)."""


@dataclass(frozen=True)
class Written:
    version: int
    events: list[Event]
    # The case after the write (``change`` only): what a step after it in the same
    # transaction would otherwise load again.
    case: Case | None = None


# Builds the command once the case (None when opening) and its key are known.
BuildCommand = Callable[[Case, bytes | None, datetime], CaseCommand]


def actor_of(principal: Principal) -> Actor:
    return Actor(sub=principal.sub, role=principal.role)


# Whether the caller may act on the case (default: ``visible``).
MayAct = Callable[[Principal, Case], bool]


def visible(principal: Principal, case: Case | None) -> bool:
    return case is not None and in_scope(
        principal, region=case.region, office=case.office, caseworker=case.caseworker
    )


@dataclass
class CaseWrites:
    store: EventStore
    keys: PgKeyStore
    clock: Clock = utc_now

    async def open_case(
        self,
        conn: asyncpg.Connection,
        principal: Principal,
        case_id: str,
        build: Callable[[bytes, datetime], OpenCase],
        correlation_id: str,
    ) -> Written:
        """Create the case key and open the case (with its intake profile, if any)."""
        key = await self.keys.create(case_id, conn)
        now = self.clock()
        command = build(key, now)
        region = command.profile.region if command.profile else command.region
        if not in_scope(
            principal, region=region, office=command.office, caseworker=command.caseworker
        ):
            raise OutOfScope()
        stored, version = await execute(
            self.store,
            conn,
            case_id,
            fold=fold,
            decide=decide,
            command=command,
            now=now,
            actor=actor_of(principal),
            correlation_id=correlation_id,
            new_stream=True,  # the caller made up the id: no read (the append checks 0)
        )
        await project(conn, stored)
        await project_statistics(conn, stored)
        await record_own_events(conn, stored)  # the history, in the same transaction
        return Written(version, [self.store.load(e) for e in stored])

    async def change(
        self,
        conn: asyncpg.Connection,
        principal: Principal,
        case_id: str,
        build: BuildCommand,
        *,
        expected_version: int | None,
        correlation_id: str,
        may_act: MayAct | None = None,
        loaded: LoadedCase | None = None,
    ) -> Written:
        """Decide ``build(...)`` on the case and append what it decides.

        ``may_act`` replaces the scope check for the few acts of someone outside the
        case's scope (the receiving side of a transfer). ``loaded``: the case as the
        caller loaded it in this transaction (the HTTP write's scope check), not read
        again.

        Scope is checked before the version, so a stale ``If-Match`` on a case the caller
        may not see is still a 404. A concurrent writer that appended after the load makes
        the append raise ``ConcurrencyError`` (nothing is written).
        """
        if loaded is None:
            loaded = await load_case(self.store, case_id, conn=conn)
        case = loaded.state
        if case is None or not (may_act or visible)(principal, case):
            raise CaseNotVisible()
        if expected_version is not None and expected_version != loaded.version:
            raise StaleVersion(loaded.version)
        key = await self.keys.get(case_id, conn)
        now = self.clock()
        events: Sequence[Event] = decide(case, build(case, key, now), now)
        if not events:
            return Written(loaded.version, [], case)
        actor = actor_of(principal)
        stored = await self.store.append(
            case_id,
            loaded.version,
            [NewEvent(e, actor, correlation_id, occurred_at=now) for e in events],
            conn=conn,
        )
        await project(conn, stored)
        await project_statistics(conn, stored)
        await project_reflection(conn, stored)
        await project_due_dates(conn, stored)
        await project_transfers(conn, stored)
        await record_own_events(conn, stored)  # the history, in the same transaction
        after: Case = case
        for event in events:
            after = evolve(after, event)
        return Written(stored[-1].stream_version, list(events), after)
