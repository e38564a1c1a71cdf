"""One timed chain verification of a store, for ``bench/replay.py`` (not run alone).

    python bench/verify_child.py ROOT DSN WORKERS [chains|audit]

ROOT is the checkout whose ``shared.chain.verify_chains`` verifies the ``case`` schema of
DSN, so two checkouts can be compared on one store (``replay.py --against``); WORKERS
above 1 verifies in that many processes (a checkout that predates them is asked for one).
``audit`` times ``shared.audit.verify_service`` instead: the chains, then the Merkle
leaves from the digests the chain pass kept (no checkpoints, no JetStream).
Prints one JSON line: events, ok, wall seconds and this process's CPU seconds (the
client's CPU when it verifies alone; with workers, only the coordinating process's).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time


def main() -> None:
    root, dsn, workers = sys.argv[1], sys.argv[2], int(sys.argv[3])
    what = sys.argv[4] if len(sys.argv) > 4 else "chains"
    sys.path.insert(0, root)
    import asyncpg

    from shared.audit import verify_service
    from shared.chain import verify_chains

    async def run() -> None:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            kwargs = {"workers": workers, "dsn": dsn} if workers > 1 else {}
            t, c = time.perf_counter(), time.process_time()
            if what == "audit":
                audit = await verify_service(
                    pool,
                    "case",
                    public_key="",
                    checkpoints=[],
                    **kwargs,  # type: ignore[arg-type]
                )
                events, ok = audit.events, audit.ok
            else:
                report = await verify_chains(pool, "case", **kwargs)  # type: ignore[arg-type]
                events, ok = report.events, report.ok
            wall, cpu = time.perf_counter() - t, time.process_time() - c
        finally:
            await pool.close()
        doc = {"events": events, "ok": ok, "wall": wall, "cpu": cpu}
        print(json.dumps(doc))

    asyncio.run(run())


if __name__ == "__main__":
    main()
