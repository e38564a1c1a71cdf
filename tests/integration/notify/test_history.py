"""``GET /referrals/{id}/notifications``: who was told, and every attempt."""

from __future__ import annotations

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.events.case import CaseOpened
from tests.integration.notify.conftest import Token
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import (
    OTHER_PROVIDER,
    PROVIDER,
    envelope,
    eventually,
    notify_events,
    publish,
    routed,
)


async def test_the_history_shows_every_attempt_to_those_who_may_see_it(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    own = auth("provider", provider_id=PROVIDER)
    r = await client.put(f"/providers/{PROVIDER}/webhook", json={"url": receiver.url}, headers=own)
    assert r.status_code == 201
    receiver.script = [502]
    event = routed()
    opened = CaseOpened(
        caseworker="caseworker-1",
        office="dushanbe-nrm",
        region="dushanbe",
        categories=["trafficking"],
    )
    await publish(js, namespace, envelope(opened, event.case_id))
    await publish(js, namespace, envelope(event, event.referral_id))
    await eventually(lambda: notify_events(pool, "NotificationDelivered"), lambda d: len(d) == 2)

    path = f"/referrals/{event.referral_id}/notifications"
    # Case roles within the case's scope (its caseworker, its region's supervisor, ...);
    # outside it the referral's notifications do not exist (tests/security).
    for role, claims in (
        ("caseworker", {}),
        ("supervisor", {"region": "dushanbe"}),
        ("auditor", {}),
        ("admin", {}),
    ):
        r = await eventually(
            lambda role=role, claims=claims: client.get(path, headers=auth(role, **claims)),
            lambda r: r.status_code == 200,
        )
        assert r.status_code == 200, (role, r.text)
    assert (await client.get(path, headers=auth("supervisor", region="sughd"))).status_code == 404
    body = r.json()
    assert body["referral_id"] == event.referral_id
    [n] = body["notifications"]
    assert (n["recipient_kind"], n["recipient_id"], n["status"]) == (
        "provider",
        PROVIDER,
        "delivered",
    )
    assert n["template"] == "new_referral" and n["language"] == "tg"
    assert sorted(n["channels"]) == ["nats", "webhook"]
    webhook = [
        (a["attempt"], a["status_code"], a["succeeded"])
        for a in n["attempts"]
        if a["channel"] == "webhook"
    ]
    assert webhook == [(1, 502, False), (2, 200, True)]
    nats = [a for a in n["attempts"] if a["channel"] == "nats"]
    assert len(nats) == 1 and nats[0]["succeeded"] and nats[0]["latency_ms"] >= 0

    mine = await client.get(path, headers=own)
    assert mine.status_code == 200 and mine.json() == body
    other = await client.get(path, headers=auth("provider", provider_id=OTHER_PROVIDER))
    assert other.status_code == 404
    assert other.headers["content-type"] == "application/problem+json"
    unknown = await client.get("/referrals/no-such-referral/notifications", headers=auth("admin"))
    assert unknown.status_code == 404
    assert (await client.get(path)).status_code == 401
