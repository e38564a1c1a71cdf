"""The directory: imported once, edited through the API, and routing follows the edits."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from services.referral.domain.commands import referral_id_for
from shared.settings import Settings
from tests.integration.referral.conftest import (
    Publish,
    Token,
    client_of,
    eventually,
    new_case_id,
    referral_events,
    request,
    running,
)

BUSTON = "women-and-society-shelter-buston"
FEMIDA = "femida-shelter-dushanbe"
NEW = {
    "id": "khujand-crisis-centre",
    "name": {"en": "Khujand crisis centre"},
    "org_type": "ngo",
    "area": {"districts": ["khujand"], "regions": ["sughd"]},
    "categories": ["trafficking"],
    "services": ["shelter"],
    "languages": ["tg", "ru"],
    "capacity": 1,
    "contact": {"subject": "khujand-crisis-centre"},
}


async def _directory_events(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch(
        "SELECT event_type FROM referral.event WHERE stream_id = 'directory'"
        " ORDER BY stream_version"
    )
    return [r["event_type"].split(".")[3] for r in rows]


async def test_the_file_is_imported_once_across_restarts(
    settings: Settings, pool: asyncpg.Pool
) -> None:
    async with running(settings):
        pass
    first = await _directory_events(pool)
    async with running(settings):
        pass
    assert await _directory_events(pool) == first
    assert first[-1] == "DirectoryImported" and first.count("CoordinatorAssigned") == 3


async def test_admin_edits_the_directory_and_routing_follows(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    admin = auth("admin")
    assert (
        await client.post("/directory/providers", json=NEW, headers=auth("caseworker"))
    ).status_code == 403
    bad = await client.post("/directory/providers", json={**NEW, "area": {}}, headers=admin)
    assert bad.status_code == 422 and "body.area" in bad.json()["errors"][0]["path"]
    made = await client.post(
        "/directory/providers", json=NEW, headers={**admin, "Idempotency-Key": "k1"}
    )
    again = await client.post(
        "/directory/providers", json=NEW, headers={**admin, "Idempotency-Key": "k1"}
    )
    assert made.status_code == again.status_code == 201 and made.json() == again.json()
    assert (await client.post("/directory/providers", json=NEW, headers=admin)).status_code == 409
    assert (await _directory_events(pool)).count("ProviderRegistered") == 1 + 34

    # The new centre has a site in the person's district: it wins over Buston.
    case_id, req = new_case_id(), request(needs=["shelter"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "shelter")
    routed = await eventually(lambda: referral_events(pool, stream=rid))
    assert routed[0][1]["provider_id"] == "khujand-crisis-centre"

    # It accepts and is full (capacity 1); the next person goes to Buston, and the reasons say why.
    centre = auth("provider", provider_id="khujand-crisis-centre")
    assert (await client.post(f"/referrals/{rid}/accept", headers=centre)).status_code == 200
    entry = (await client.get("/directory/providers/khujand-crisis-centre", headers=admin)).json()
    assert entry["places_in_use"] == 1
    second = request(needs=["shelter"])
    await publish(new_case_id(), second)
    rid2 = referral_id_for(second.referral_id, "shelter")
    ((_, routed2),) = await eventually(lambda: referral_events(pool, stream=rid2))
    assert routed2["provider_id"] == BUSTON
    assert {"provider_id": "khujand-crisis-centre", "failed": ["capacity"]} in routed2["reasons"][
        "excluded"
    ]

    # Buston is suspended: the third person goes to Femida.
    r = await client.post(
        f"/directory/providers/{BUSTON}/suspend",
        json={"reason_code": "under_review"},
        headers=admin,
    )
    assert r.status_code == 200 and r.json()["suspended"] is True
    third = request(needs=["shelter"])
    await publish(new_case_id(), third)
    rid3 = referral_id_for(third.referral_id, "shelter")
    ((_, routed3),) = await eventually(lambda: referral_events(pool, stream=rid3))
    assert routed3["provider_id"] == FEMIDA
    r = await client.post(f"/directory/providers/{BUSTON}/reinstate", headers=admin)
    assert r.json()["suspended"] is False
    assert (
        await client.post("/directory/providers/nobody/reinstate", headers=admin)
    ).status_code == 404


async def test_capacity_is_set_by_admin_or_the_provider_itself(
    client: httpx.AsyncClient, pool: asyncpg.Pool, auth: Token
) -> None:
    own = auth("provider", provider_id=BUSTON)
    r = await client.put(
        f"/directory/providers/{BUSTON}/capacity", json={"capacity": 3}, headers=own
    )
    assert r.status_code == 200 and r.json()["provider"]["capacity"] == 3
    other = auth("provider", provider_id=FEMIDA)
    r = await client.put(
        f"/directory/providers/{BUSTON}/capacity", json={"capacity": 9}, headers=other
    )
    assert r.status_code == 403
    r = await client.put(
        f"/directory/providers/{BUSTON}/capacity", json={"capacity": -1}, headers=own
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.capacity"
    updated = {
        **(await client.get(f"/directory/providers/{BUSTON}", headers=auth("admin"))).json()[
            "provider"
        ]
    }
    updated["languages"] = ["tg", "ru", "en"]
    r = await client.put(f"/directory/providers/{BUSTON}", json=updated, headers=auth("admin"))
    assert r.status_code == 200 and r.json()["provider"]["languages"] == ["tg", "ru", "en"]
    r = await client.put(f"/directory/providers/{FEMIDA}", json=updated, headers=auth("admin"))
    assert r.status_code == 422
    events = await _directory_events(pool)
    assert events[-2:] == ["CapacityChanged", "ProviderUpdated"]


async def test_concurrent_accepts_never_take_more_places_than_capacity(
    settings: Settings, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    async with running(settings) as app, client_of(app) as client:
        admin = auth("admin")
        await client.post("/directory/providers", json=NEW, headers=admin)
        ids = []
        for _ in range(2):
            req = request(needs=["shelter"])
            await publish(new_case_id(), req)
            ids.append(referral_id_for(req.referral_id, "shelter"))
        await eventually(lambda: _routed_to_centre(pool, 2))
        # Both were routed while the bed was free; both accepts race for the one place.
        centre = auth("provider", provider_id="khujand-crisis-centre")
        answers = await asyncio.gather(
            *(client.post(f"/referrals/{rid}/accept", headers=centre) for rid in ids)
        )
        assert sorted(a.status_code for a in answers) == [200, 409]
        refused = next(a for a in answers if a.status_code == 409)
        assert refused.json()["type"].endswith("provider_full")


async def _routed_to_centre(pool: asyncpg.Pool, n: int) -> bool:
    routed = await referral_events(pool, name="ReferralRouted")
    return sum(d["provider_id"] == "khujand-crisis-centre" for _, d in routed) >= n
