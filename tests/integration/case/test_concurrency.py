"""If-Match, concurrent writers and Idempotency-Key: nothing is overwritten, nothing is
written twice."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.case.domain import decide, fold
from services.case.domain.commands import OpenCase
from shared.commands import execute
from shared.envelope import Actor
from shared.eventstore import ConcurrencyError
from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case


async def stream_version(pool: asyncpg.Pool, case_id: str) -> int:
    return int(
        await pool.fetchval(
            'SELECT coalesce(max(stream_version), 0) FROM "case".event WHERE stream_id = $1',
            case_id,
        )
    )


async def test_a_stale_if_match_is_412_with_the_current_version(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    etag = (await client.get(f"/cases/{case_id}", headers=h)).headers["ETag"]
    first = await client.post(
        f"/cases/{case_id}/notes", json={"text": "one"}, headers={**h, "If-Match": etag}
    )
    assert first.status_code == 200
    stale = await client.post(
        f"/cases/{case_id}/notes", json={"text": "two"}, headers={**h, "If-Match": etag}
    )
    assert stale.status_code == 412
    assert stale.json()["current_version"] == 3
    assert await stream_version(pool, case_id) == 3
    fresh = await client.post(
        f"/cases/{case_id}/notes", json={"text": "two"}, headers={**h, "If-Match": '"3"'}
    )
    assert fresh.status_code == 200 and fresh.json()["version"] == 4


async def test_two_concurrent_writers_one_wins(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    for _ in range(5):  # several rounds: the race must go one way or the other every time
        version = await stream_version(pool, case_id)
        results = await asyncio.gather(
            *(
                client.post(
                    f"/cases/{case_id}/notes",
                    json={"text": f"writer {n}"},
                    headers={**h, "If-Match": f'"{version}"'},
                )
                for n in range(2)
            )
        )
        codes = sorted(r.status_code for r in results)
        assert codes[0] == 200 and codes[1] in (409, 412), codes
        loser = next(r for r in results if r.status_code != 200)
        assert loser.json()["current_version"] == version + 1
        assert await stream_version(pool, case_id) == version + 1


async def test_concurrent_writers_without_if_match_never_overwrite(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    results = await asyncio.gather(
        *(
            client.post(f"/cases/{case_id}/notes", json={"text": f"n{n}"}, headers=h)
            for n in range(6)
        )
    )
    ok = [r for r in results if r.status_code == 200]
    assert all(r.status_code in (200, 409) for r in results)
    assert await stream_version(pool, case_id) == 2 + len(ok)
    assert sorted(r.json()["version"] for r in ok) == list(range(3, 3 + len(ok)))


async def test_a_retried_intake_returns_the_first_response_and_appends_nothing(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = {**auth(), "Idempotency-Key": "intake-7f3a"}
    first = await client.post("/cases", json=intake(), headers=h)
    again = await client.post("/cases", json=intake(), headers=h)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Location"] == first.headers["Location"]
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == 2
    assert await pool.fetchval('SELECT count(*) FROM "case".case_summary') == 1


async def test_a_retried_referral_is_requested_once(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    url = f"/cases/{case_id}/referrals"
    body = {"needs": ["shelter"], "urgency": "emergency", "emergency_reason": "threatened"}
    keyed = {**h, "Idempotency-Key": "ref-1"}
    responses = await asyncio.gather(
        *(client.post(url, json=body, headers=keyed) for _ in range(3))
    )
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["referral_id"] for r in responses}) == 1
    assert await stream_version(pool, case_id) == 3


async def test_a_key_reused_with_another_body_is_refused(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    keyed = {**h, "Idempotency-Key": "note-1"}
    assert (
        await client.post(f"/cases/{case_id}/notes", json={"text": "a"}, headers=keyed)
    ).is_success
    r = await client.post(f"/cases/{case_id}/notes", json={"text": "b"}, headers=keyed)
    assert r.status_code == 422
    assert r.json()["type"].endswith("/idempotency-key-reused")
    assert await stream_version(pool, case_id) == 3
    # Keys are per caller: another caseworker's "note-1" is a different key.
    other = {**auth(sub="cw-2"), "Idempotency-Key": "note-1"}
    assert (
        await client.post(f"/cases/{case_id}/notes", json={"text": "b"}, headers=other)
    ).is_success


async def test_a_refused_write_keeps_no_idempotency_key(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    keyed = {**h, "Idempotency-Key": "reopen-1"}
    refused = await client.post(
        f"/cases/{case_id}/reopen", json={"reason": "new_needs"}, headers=keyed
    )
    assert refused.status_code == 409
    await client.post(f"/cases/{case_id}/close", json={"reason": "duplicate"}, headers=h)
    retried = await client.post(
        f"/cases/{case_id}/reopen", json={"reason": "new_needs"}, headers=keyed
    )
    assert retried.status_code == 200


async def test_opening_an_existing_stream_as_new_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, auth: Token, app: FastAPI, pool: asyncpg.Pool
) -> None:
    """An intake appends without reading its (new) stream; the append still checks that
    the stream is at version 0, so an id that exists after all is a conflict."""
    h = auth()
    case_id = await open_case(client, h)
    before = await stream_version(pool, case_id)
    store = app.state.runtime.store
    command = OpenCase(caseworker="caseworker-1", region="sughd", categories=["trafficking"])
    async with pool.acquire() as conn, conn.transaction():
        with pytest.raises(ConcurrencyError):
            await execute(
                store,
                conn,
                case_id,
                fold=fold,
                decide=decide,
                command=command,
                now=datetime.now(UTC),
                actor=Actor(sub="caseworker-1", role="caseworker"),
                correlation_id="c-1",
                new_stream=True,
            )
    assert await stream_version(pool, case_id) == before
