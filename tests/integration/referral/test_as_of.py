"""GET /referrals/{id}?as_of=: the referral as it was just before and just after each event."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import httpx

from services.referral.domain.commands import referral_id_for
from tests.integration.referral.conftest import (
    Publish,
    Token,
    eventually,
    new_case_id,
    referral_events,
    request,
)

BUSTON = "women-and-society-shelter-buston"


async def test_as_of_replays_the_referral(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id, req = new_case_id(), request(needs=["shelter"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    r = await client.post(
        f"/referrals/{rid}/decline",
        json={"reason_code": "no_capacity"},
        headers=auth("provider", provider_id=BUSTON),
    )
    assert r.status_code == 200, r.text
    rows = await pool.fetch(
        "SELECT stream_version, occurred_at FROM referral.event WHERE stream_id = $1"
        " ORDER BY stream_version",
        rid,
    )
    admin = auth("admin")

    def version_at(t):  # type: ignore[no-untyped-def]
        return max((x["stream_version"] for x in rows if x["occurred_at"] <= t), default=0)

    seen = []
    for row in rows:
        for t in (row["occurred_at"] - timedelta(microseconds=1), row["occurred_at"]):
            got = await client.get(
                f"/referrals/{rid}", params={"as_of": t.isoformat()}, headers=admin
            )
            if version_at(t) == 0:
                assert got.status_code == 404
                continue
            assert got.status_code == 200, got.text
            assert got.headers["ETag"] == f'"{version_at(t)}"'
            seen.append((version_at(t), got.json()["provider_id"], got.json()["status"]))
    # Routed to Buston first; after the decline, re-routed to the next shelter.
    assert seen[0][1] == BUSTON and seen[-1][1] != BUSTON
    assert (
        await client.get(
            f"/referrals/{rid}", params={"as_of": "2026-01-01T00:00:00"}, headers=admin
        )
    ).status_code == 422
