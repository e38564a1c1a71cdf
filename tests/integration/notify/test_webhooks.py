"""Webhook deliveries: signed per Standard Webhooks, retried by JetStream, dead-lettered,
replayed by an operator."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.integration.notify.conftest import Token
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import (
    PROVIDER,
    envelope,
    eventually,
    notify_events,
    publish,
    routed,
)


async def register(client: httpx.AsyncClient, auth: Token, url: str, **body: object) -> str:
    r = await client.put(
        f"/providers/{PROVIDER}/webhook",
        json={"url": url, **body},
        headers=auth("provider", provider_id=PROVIDER),
    )
    assert r.status_code in (200, 201), r.text
    secret = r.json()["secret"]
    assert secret.startswith("whsec_")
    return str(secret)


async def route_one(js: JetStreamContext, namespace: str) -> str:
    event = routed()
    await publish(js, namespace, envelope(event, event.referral_id))
    return event.referral_id


def webhook_events(events: list[dict[str, object]]) -> list[dict[str, object]]:
    return [e for e in events if e["channel"] == "webhook"]


async def test_a_receiver_failing_twice_gets_the_same_notification_three_times(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    await register(client, auth, receiver.url)
    receiver.script = [500, 500]

    await route_one(js, namespace)

    delivered = await eventually(
        lambda: notify_events(pool, "NotificationDelivered"),
        lambda d: len(webhook_events(d)) == 1,
    )
    assert len(receiver.received) == 3
    ids = {r.headers["webhook-id"] for r in receiver.received}
    assert ids == {webhook_events(delivered)[0]["notification_id"]}
    assert {r.body for r in receiver.received} == {receiver.received[0].body}
    attempts = webhook_events(await notify_events(pool, "DeliveryAttempted"))
    assert [(a["attempt"], a["status_code"], a["succeeded"]) for a in attempts] == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]
    assert await notify_events(pool, "NotificationFailed") == []


async def test_a_receiver_that_always_fails_is_dead_lettered_and_replayed_after_recovery(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    await register(client, auth, receiver.url)
    receiver.default = 503

    await route_one(js, namespace)

    admin = auth("admin")
    letters = await eventually(
        lambda: client.get("/notifications/dead-letters", headers=admin),
        lambda r: len(r.json()["dead_letters"]) == 1,
    )
    letter = letters.json()["dead_letters"][0]
    assert (letter["channel"], letter["reason"], letter["attempts"]) == (
        "webhook",
        "attempts_exhausted",
        3,
    )
    assert letter["last_status_code"] == 503
    assert len(receiver.received) == 3
    # the category's coordinator hears that the provider could not be reached
    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 2
    )
    alert = queued[1]
    assert (alert["recipient_kind"], alert["recipient_id"], alert["template"]) == (
        "coordinator",
        "imcctip-secretariat",
        "provider_unreachable",
    )

    receiver.default = 200
    r = await client.post(f"/notifications/{letter['notification_id']}/redeliver", headers=admin)
    assert r.status_code == 202, r.text
    assert r.json()["channels"] == ["webhook"]

    await eventually(
        lambda: notify_events(pool, "NotificationDelivered"),
        lambda d: len(webhook_events(d)) == 1,
    )
    assert len(receiver.received) == 4
    assert {x.headers["webhook-id"] for x in receiver.received} == {letter["notification_id"]}
    r = await client.get("/notifications/dead-letters", headers=admin)
    assert r.json()["dead_letters"] == []
    # nothing left to replay
    again = await client.post(
        f"/notifications/{letter['notification_id']}/redeliver", headers=admin
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


async def test_a_gone_receiver_is_not_retried(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    await register(client, auth, receiver.url)
    receiver.default = 410

    await route_one(js, namespace)

    failed = await eventually(
        lambda: notify_events(pool, "NotificationFailed"), lambda f: len(f) == 1
    )
    assert (failed[0]["reason"], failed[0]["attempts"], failed[0]["last_status_code"]) == (
        "rejected",
        1,
        410,
    )
    await eventually(lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 2)
    assert len(receiver.received) == 1


async def test_deliveries_verify_with_standardwebhooks_and_a_tampered_body_does_not(
    client: httpx.AsyncClient,
    auth: Token,
    receiver: Receiver,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    old = await register(client, auth, receiver.url)
    await route_one(js, namespace)
    await eventually(lambda: _count(receiver), lambda n: n == 1)

    first = receiver.received[0]
    payload = Webhook(old).verify(first.body, first.headers)
    assert payload["type"] == "org.safepath.notify.ProviderNotification.v1"
    assert payload["id"] == first.headers["webhook-id"]
    tampered = first.body.replace(b'"urgent"', b'"routine"')
    assert tampered != first.body
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(tampered, first.headers)

    # after a rotation both secrets verify, so the receiver may switch at its own pace
    new = await register(client, auth, receiver.url, rotate=True)
    assert new != old
    await route_one(js, namespace)
    await eventually(lambda: _count(receiver), lambda n: n == 2)
    second = receiver.received[1]
    assert len(second.headers["webhook-signature"].split(" ")) == 2
    Webhook(old).verify(second.body, second.headers)
    Webhook(new).verify(second.body, second.headers)
    assert json.loads(second.body)["id"] != payload["id"]


async def _count(receiver: Receiver) -> int:
    return len(receiver.received)


async def test_webhook_registration_is_the_providers_own_and_https(
    client: httpx.AsyncClient, auth: Token
) -> None:
    own = auth("provider", provider_id=PROVIDER)
    other = auth("provider", provider_id="women-and-society-shelter-buston")
    url = {"url": "https://hooks.example.org/safepath"}

    assert (
        await client.put(f"/providers/{PROVIDER}/webhook", json=url, headers=other)
    ).status_code == 403
    assert (await client.put(f"/providers/{PROVIDER}/webhook", json=url)).status_code == 401
    caseworker = auth("caseworker")
    assert (
        await client.put(f"/providers/{PROVIDER}/webhook", json=url, headers=caseworker)
    ).status_code == 403
    r = await client.put(
        f"/providers/{PROVIDER}/webhook", json={"url": "http://hooks.example.org/x"}, headers=own
    )
    assert r.status_code == 422 and r.json()["errors"][0]["path"] == "body.url"
    r = await client.put("/providers/no-such-provider/webhook", json=url, headers=auth("admin"))
    assert r.status_code == 404

    created = await client.put(f"/providers/{PROVIDER}/webhook", json=url, headers=own)
    assert created.status_code == 201 and created.json()["secret"].startswith("whsec_")
    moved = await client.put(
        f"/providers/{PROVIDER}/webhook", json={"url": "https://new.example.org/h"}, headers=own
    )
    assert moved.status_code == 200 and moved.json()["secret"] is None  # shown only once
