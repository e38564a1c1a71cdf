"""A transfer request nobody answers expires (issue 13 item 7), against the real case
service: the transfer timer runs under its lease, records ``CaseTransferExpired`` once
however many times it is restarted, and afterwards the receiving side's accept is 409
problem+json while the sending office keeps the case."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta

import asyncpg
import httpx

from services.case.bootstrap import bootstrap
from services.case.config import CaseSettings
from shared.settings import Settings
from shared.times import utc_now
from tests.integration.case.conftest import Token, stop_background_tasks
from tests.integration.case.stories import open_case

SENDER = {"sub": "cw-khujand-1", "office": "khujand-nrm"}
CONFIG = CaseSettings(transfer_expiry_days=7, transfer_interval_seconds=0.05)


@asynccontextmanager
async def running(
    settings: Settings, clock: Callable[[], datetime], config: CaseSettings = CONFIG
) -> AsyncIterator[httpx.AsyncClient]:
    """The case service, its timers and all, with ``clock``; stopped on exit (a restart)."""
    app = bootstrap(settings, clock=clock, config=config)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client
        await stop_background_tasks(app)


async def _expired(pool: asyncpg.Pool, case_id: str) -> int:
    return int(
        await pool.fetchval(
            """SELECT count(*) FROM "case".event
               WHERE stream_id = $1 AND event_type LIKE '%.CaseTransferExpired.%'""",
            case_id,
        )
    )


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the transfer timer did not expire the request")


async def test_an_unanswered_request_expires_once_across_restarts_and_cannot_be_accepted(
    settings: Settings, auth: Token, pool: asyncpg.Pool
) -> None:
    now = [utc_now()]
    sender = auth("caseworker", **SENDER)
    receiver = auth("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm")
    async with running(settings, lambda: now[0]) as client:
        case_id = await open_case(client, sender)
        r = await client.post(
            f"/cases/{case_id}/transfer", json={"to_office": "dushanbe-nrm"}, headers=sender
        )
        assert r.status_code == 202, r.text
        tid = r.json()["transfer_id"]
        expires_at = await pool.fetchval(
            'SELECT expires_at FROM "case".transfer_request WHERE case_id = $1', case_id
        )
        assert expires_at == now[0] + timedelta(days=7)
        await asyncio.sleep(0.3)  # the timer runs: nothing is due
        assert await _expired(pool, case_id) == 0

    # Eight days on, a restarted service's timer expires it, and only once, whatever
    # the number of passes and restarts.
    now[0] += timedelta(days=8)
    for _ in range(2):
        async with running(settings, lambda: now[0]) as client:
            await _until(lambda: _pending_gone(pool, case_id))
            await asyncio.sleep(0.3)
            assert await _expired(pool, case_id) == 1

            accept = f"/cases/{case_id}/transfers/{tid}/accept"
            r = await client.post(accept, headers=receiver)
            assert r.status_code == 409, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["type"].endswith("/transfer_expired")
            # Someone who was never the receiving side still learns nothing.
            elsewhere = auth("caseworker", sub="cw-khorog-1", office="khorog-nrm", region="gbao")
            assert (await client.post(accept, headers=elsewhere)).status_code == 404
            # The sending office keeps the case, and may ask again.
            view = (await client.get(f"/cases/{case_id}", headers=sender)).json()
            assert (view["office"], view["caseworker"]) == ("khujand-nrm", "cw-khujand-1")
            assert (await client.get(f"/cases/{case_id}", headers=receiver)).status_code == 404
            incoming = await client.get("/transfers/incoming", headers=receiver)
            assert incoming.json() == []
    history = [
        r["event_type"].split(".")[3]
        for r in await pool.fetch(
            'SELECT event_type FROM "case".event WHERE stream_id = $1 ORDER BY stream_version',
            case_id,
        )
    ]
    assert history[-2:] == ["CaseTransferRequested", "CaseTransferExpired"]


async def _pending_gone(pool: asyncpg.Pool, case_id: str) -> bool:
    pending = await pool.fetchval(
        'SELECT pending FROM "case".transfer_request WHERE case_id = $1', case_id
    )
    return pending is False


async def test_an_answer_in_time_is_not_expired_later(
    settings: Settings, auth: Token, pool: asyncpg.Pool
) -> None:
    now = [utc_now()]
    sender = auth("caseworker", **SENDER)
    receiver = auth("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm")
    async with running(settings, lambda: now[0]) as client:
        case_id = await open_case(client, sender)
        r = await client.post(
            f"/cases/{case_id}/transfer", json={"to_office": "dushanbe-nrm"}, headers=sender
        )
        tid = r.json()["transfer_id"]
        now[0] += timedelta(days=6, hours=23)
        r = await client.post(f"/cases/{case_id}/transfers/{tid}/accept", headers=receiver)
        assert r.status_code == 200, r.text
        now[0] += timedelta(days=30)
        await asyncio.sleep(0.3)
    assert await _expired(pool, case_id) == 0


async def test_a_lapsed_request_is_refused_and_unlisted_before_the_timer_records_it(
    settings: Settings, auth: Token, pool: asyncpg.Pool
) -> None:
    now = [utc_now()]
    sender = auth("caseworker", **SENDER)
    receiver = auth("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm")
    slow = CONFIG.model_copy(update={"transfer_interval_seconds": 3600.0})  # one early pass
    async with running(settings, lambda: now[0], slow) as client:
        case_id = await open_case(client, sender)
        r = await client.post(
            f"/cases/{case_id}/transfer", json={"to_office": "dushanbe-nrm"}, headers=sender
        )
        tid = r.json()["transfer_id"]
        [listed] = (await client.get("/transfers/incoming", headers=receiver)).json()
        assert datetime.fromisoformat(listed["expires_at"]) == now[0] + timedelta(days=7)

        now[0] += timedelta(days=7)
        assert (await client.get("/transfers/incoming", headers=receiver)).json() == []
        r = await client.post(f"/cases/{case_id}/transfers/{tid}/accept", headers=receiver)
        assert r.status_code == 409 and r.json()["type"].endswith("/transfer_expired")
        # Nothing was appended by the refused answer, and the timer has not run again.
        assert await _expired(pool, case_id) == 0
        view = (await client.get(f"/cases/{case_id}", headers=sender)).json()
        assert view["office"] == "khujand-nrm"
