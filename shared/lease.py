"""One active holder of a role per service, however many replicas run.

The relay, the sealer and referral's escalation timer each read the whole store and
act on it; with two replicas, two relays would publish every event twice (JetStream
drops the copies only inside its duplicate window) and two sealers would race for the
same Merkle leaf. ``hold`` runs such a role only while this process holds a Postgres
session advisory lock named after it, on a connection of its own:

- The holder dies (kill -9, crash, host gone): Postgres closes its session and releases
  the lock; a waiting replica takes it on its next try (``retry_seconds``, 1 s). TCP
  keepalives on the lease connection bound how long a vanished host keeps it.
- The holder loses its lease connection (Postgres restarted, network cut): the check
  every ``check_seconds`` fails, the role is cancelled at once and the process queues
  for the lock again.
- A paused holder (SIGSTOP) keeps the lock: the role waits with it. A pause delays
  events, it never loses or doubles one.

Correctness never rests on the lease alone: for the moment between a holder losing its
connection and noticing, two copies may run; the relay's copies are dropped by message
id and a sealer's insert of a leaf that exists fails its transaction. The lease makes
that a seconds-long edge instead of the normal case.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable

import asyncpg

from shared.logging import get_logger

log = get_logger("safepath.lease")

# Keepalive settings of the lease connection: a holder whose host vanished without
# closing its socket is dropped by Postgres after about idle + interval × count seconds.
_KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
}


def lock_key(name: str) -> int:
    """The advisory lock id of ``name``: a stable signed 64-bit number."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def hold(
    dsn: str,
    name: str,
    role: Callable[[], Awaitable[None]],
    *,
    retry_seconds: float = 1.0,
    check_seconds: float = 1.0,
    connect: Callable[..., Awaitable[asyncpg.Connection]] = asyncpg.connect,
) -> None:
    """Run ``role`` while this process holds the lease ``name``; queue for it otherwise.

    Runs until cancelled. ``role`` is expected to run until cancelled too; if it returns
    or raises, the lease is given up and taken again, so a replica may take over.
    """
    key = lock_key(name)
    while True:
        conn: asyncpg.Connection | None = None
        task: asyncio.Task[None] | None = None
        try:
            conn = await connect(
                dsn, server_settings={**_KEEPALIVE, "application_name": f"lease {name}"[:63]}
            )
            waited = False
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", key):
                if not waited:
                    log.info("lease_waiting", lease=name)
                    waited = True
                await asyncio.sleep(retry_seconds)
            log.info("lease_acquired", lease=name)
            task = asyncio.create_task(_run(role), name=f"lease-{name}")
            while True:
                done, _ = await asyncio.wait({task}, timeout=check_seconds)
                if done:
                    break  # the role ended: give the lease up and queue again
                async with asyncio.timeout(check_seconds * 2):
                    await conn.fetchval("SELECT 1")
        except asyncio.CancelledError:
            raise
        except Exception as e:  # Postgres unreachable, lease connection lost
            log.warning("lease_lost", lease=name, error=type(e).__name__)
        finally:
            if task is not None:
                await _cancel(task)
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        await asyncio.sleep(retry_seconds)


async def _run(role: Callable[[], Awaitable[None]]) -> None:
    try:
        await role()
    except asyncio.CancelledError:
        raise
    except Exception as e:
        log.warning("lease_role_failed", error=type(e).__name__)


async def _cancel(task: asyncio.Task[None]) -> None:
    # Cancel until done: a library may swallow one cancellation mid-call.
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
