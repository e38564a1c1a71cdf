"""A routed referral reaches its provider over NATS exactly once, as a CloudEvent."""

from __future__ import annotations

import json

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.notify.app.subjects import notifications_stream_name, provider_durable
from tests.integration.notify.stories import (
    PROVIDER,
    envelope,
    eventually,
    notify_events,
    publish,
    routed,
)


async def test_a_routed_referral_is_one_notification_even_when_delivered_twice(
    client: httpx.AsyncClient, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    # given a referral routed to a provider, whose event the bus delivers twice
    event = routed()
    env = envelope(event, event.referral_id)
    await publish(js, namespace, env)
    await publish(js, namespace, env, msg_id=env.id + "-again")  # past JetStream's dedupe

    # then the provider's durable consumer holds exactly one notification
    delivered = await eventually(
        lambda: notify_events(pool, "NotificationDelivered"), lambda d: len(d) == 1
    )
    # even when the inbox and its stream positions are bypassed: the notification id
    # comes from the event id
    await pool.execute("DELETE FROM notify.inbox")
    await pool.execute("DELETE FROM notify.inbox_stream")
    await publish(js, namespace, env, msg_id=env.id + "-third")
    await eventually(lambda: pool.fetchval("SELECT count(*) FROM notify.inbox"), lambda n: n >= 1)
    sub = await js.pull_subscribe_bind(
        provider_durable(PROVIDER), stream=notifications_stream_name(namespace)
    )
    msgs = await sub.fetch(10, timeout=1.0)
    assert len(msgs) == 1
    assert msgs[0].subject == f"{namespace}.provider.{PROVIDER}.notifications"
    assert len(await notify_events(pool, "NotificationQueued")) == 1

    notification = json.loads(msgs[0].data)
    assert notification["id"] == delivered[0]["notification_id"]
    assert msgs[0].headers["Nats-Msg-Id"] == notification["id"]
    assert notification["type"] == "org.safepath.notify.ProviderNotification.v1"
    data = notification["data"]
    assert data["referral_id"] == event.referral_id
    assert data["case_reference"].startswith("SP-")
    assert event.case_id not in msgs[0].data.decode()
    assert data["needs"] == ["shelter"] and data["urgency"] == "urgent"
    assert data["message"]["language"] == "tg"  # the provider's language in the directory
    assert data["actions"]["accept"]["path"] == f"/referrals/{event.referral_id}/accept"
