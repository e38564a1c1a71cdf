"""Changes recorded on two cases at once (family links, same-person decisions).

Both cases are loaded, checked and decided on their own state, and appended in one
transaction: both sides or neither. A concurrent writer on either case makes the append
raise ``ConcurrencyError`` (409), nothing written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from services.case.app.handling import CaseNotVisible, actor_of
from services.case.app.loading import load_case
from services.case.app.projection import project
from services.case.app.statistics.model import project as project_statistics
from services.case.app.timeline import record_own_events
from services.case.domain import Case, decide
from services.case.domain.commands import CaseCommand
from shared.auth import Principal
from shared.eventstore import EventStore, NewEvent
from shared.times import Clock

# Whether the caller may act on the pair (both cases as they stand now).
PairScope = Callable[[Case, Case], bool]


@dataclass(frozen=True)
class PairWritten:
    version_a: int
    version_b: int
    changed: bool


async def change_pair(
    store: EventStore,
    conn: asyncpg.Connection,
    principal: Principal,
    pair: tuple[str, str],
    commands: tuple[CaseCommand, CaseCommand],
    *,
    may_act: PairScope,
    correlation_id: str,
    clock: Clock,
) -> PairWritten:
    """Decide ``commands[i]`` on case ``pair[i]`` and append both (or raise, writing nothing).

    A case that does not exist, or a pair the caller may not act on, is ``CaseNotVisible``.
    """
    loaded = [await load_case(store, case_id, conn=conn) for case_id in pair]
    a, b = loaded[0].state, loaded[1].state
    if a is None or b is None or not may_act(a, b):
        raise CaseNotVisible()
    now = clock()
    decided = [decide(x.state, c, now) for x, c in zip(loaded, commands, strict=True)]
    versions = [x.version for x in loaded]
    actor = actor_of(principal)
    for i, (case_id, events) in enumerate(zip(pair, decided, strict=True)):
        if not events:
            continue
        new = [NewEvent(e, actor, correlation_id, occurred_at=now) for e in events]
        stored = await store.append(case_id, versions[i], new, conn=conn)
        await project(conn, stored)
        await project_statistics(conn, stored)  # as every other case write
        await record_own_events(conn, stored)
        versions[i] = stored[-1].stream_version
    return PairWritten(versions[0], versions[1], any(decided))
