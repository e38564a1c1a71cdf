"""Loading one long case (``make bench``; not a test).

Writes one case of 1,000 events (opened, profile, consent, needs, then notes: what a
long case is made of) through ``EventStore.append``, among other cases, into a fresh
store, then prints, best and median of ``--rounds``:
  * command load: what a command does before deciding (``load_case``: version, type and
    data only, ``model_validate_json``, ``fold``); before ``load_case`` existed, commands
    used the generic load below, and so does this bench on such code;
  * generic load: ``shared.commands.load`` (``read_stream``: every column, JSON decoded,
    ``EventStore.load`` per event, then ``fold``), which the case view (GET) still uses;
  * fold only: the domain's ``fold`` of the 1,000 parsed events (no I/O).

    python bench/load_case.py [--rounds 50] [--quick]   (quick: 10 rounds)
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from benchkit import BenchDatabase, machine, result

from services.case.domain import fold
from shared.commands import load
from shared.envelope import Actor
from shared.events.base import Event, Sealed
from shared.events.case import (
    CaseNoteAdded,
    CaseOpened,
    ConsentGiven,
    NeedsAssessed,
    SurvivorProfile,
    SurvivorProfileRecorded,
)
from shared.eventstore import EventStore, NewEvent

try:  # the command path since issue 12; older code loaded for commands with ``load``
    from services.case.app.loading import load_case
except ImportError:  # pragma: no cover - measuring code from before
    load_case = None  # type: ignore[assignment]

ACTOR = Actor(sub="caseworker:bench", role="caseworker")
SEALED = Sealed(kid="k", nonce="AAAAAAAAAAAAAAAA", ct="Y2lwaGVydGV4dA==" * 8)
EVENTS = 1000


def long_case(n: int) -> list[Event]:
    profile = SurvivorProfile(
        identifying=SEALED,
        age_band="18-24",
        sex="female",
        disability=False,
        language="tg",
        region="sughd",
        district="khujand",
        categories=["trafficking"],
    )
    events: list[Event] = [
        CaseOpened(
            caseworker="bench", office="khujand", region="sughd", categories=["trafficking"]
        ),
        SurvivorProfileRecorded(profile=profile),
        ConsentGiven(
            consent_id="c1",
            purpose="referral",
            service_types=["shelter", "medical"],
            provider_ids=[],
            data_categories=["needs", "demographics"],
        ),
        NeedsAssessed(needs=["shelter", "medical"], note=SEALED),
    ]
    events += [CaseNoteAdded(note_id=f"n{v}", note=SEALED) for v in range(n - len(events))]
    return events


async def write(store: EventStore, case_id: str, events: list[Event]) -> None:
    for i in range(0, len(events), 100):
        chunk = [NewEvent(e, ACTOR, "bench") for e in events[i : i + 100]]
        await store.append(case_id, i, chunk)


async def timed(rounds: int, fn: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """Best and median of ``rounds`` runs, in ms (after one warm-up run)."""
    await fn()
    runs = []
    for _ in range(rounds):
        t = time.perf_counter()
        await fn()
        runs.append((time.perf_counter() - t) * 1000)
    return min(runs), statistics.median(runs)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--others", type=int, default=200, help="other cases of 50 events")
    ap.add_argument("--quick", action="store_true", help="10 rounds, 50 other cases")
    args = ap.parse_args()
    if args.quick:
        args.rounds, args.others = 10, 50
    print(machine())
    bench_db = await BenchDatabase.start(max_size=4)
    try:
        pool = bench_db.pool
        store = EventStore(pool, "case")
        big, events = str(uuid.uuid4()), long_case(EVENTS)
        for _ in range(args.others):
            await write(store, str(uuid.uuid4()), long_case(50))
        await write(store, big, events)
        await pool.execute('VACUUM ANALYZE "case".event')

        async def generic() -> None:
            loaded = await load(store, big, fold)
            assert loaded.version == EVENTS and loaded.state is not None

        async def command() -> None:
            if load_case is None:
                return await generic()
            loaded = await load_case(store, big)
            assert loaded.version == EVENTS and loaded.state is not None

        async def fold_only() -> None:
            assert fold(events) is not None

        cmd_best, cmd_median = await timed(args.rounds, command)
        gen_best, gen_median = await timed(args.rounds, generic)
        fold_best, fold_median = await timed(args.rounds, fold_only)
    finally:
        await bench_db.stop()
    path = "load_case" if load_case is not None else "load (generic)"
    print(f"| load one case of {EVENTS:,} events ({args.rounds} rounds) | best | median |")
    print("|---|---:|---:|")
    print(f"| command load ({path}) | {cmd_best:.1f} ms | {cmd_median:.1f} ms |")
    print(f"| generic load (read_stream + EventStore.load + fold) | {gen_best:.1f} ms"
          f" | {gen_median:.1f} ms |")  # fmt: skip
    print(f"| fold only | {fold_best:.1f} ms | {fold_median:.1f} ms |")
    for metric, value in (
        ("command_load_best_ms", cmd_best),
        ("command_load_median_ms", cmd_median),
        ("generic_load_best_ms", gen_best),
        ("generic_load_median_ms", gen_median),
        ("fold_best_ms", fold_best),
        ("fold_median_ms", fold_median),
    ):
        result("load_case", metric, value, "ms", events=EVENTS)


if __name__ == "__main__":
    asyncio.run(main())
