"""No identifying value reaches a recipient, the bus or a log line.

The survivor's name, birth date and phone are planted where the notify service reads:
free text in a routing reason, and a malformed event carrying them as extra fields.
Every notification (NATS and webhook), every event notify publishes, its tables and all
log output are scanned for them.
"""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.notify.config import NotifySettings
from services.notify.main import create_app
from shared.events.case import CaseOpened
from shared.events.referral import ReferralAccepted
from shared.settings import Settings
from tests.integration.notify.conftest import Token
from tests.integration.notify.receiver import Receiver
from tests.integration.notify.stories import (
    PLANTED,
    PROVIDER,
    SURVIVOR_BIRTH_DATE,
    SURVIVOR_NAME,
    SURVIVOR_PHONE,
    envelope,
    eventually,
    notify_events,
    publish,
    publish_directory,
    routed,
)

NOTIFY_TABLES = (
    "event",
    "notification",
    "delivery_attempt",
    "dead_letter",
    "referral_facts",
    "case_caseworker",
    "provider_contact",
    "coordinator_contact",
)


async def test_no_identifying_value_appears_in_any_notification_or_log(
    settings: Settings,
    notify_settings: NotifySettings,
    nc: NATS,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
    receiver: Receiver,
    auth: Token,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    captured: list[bytes] = []

    async def keep(msg: Msg) -> None:
        captured.append(msg.subject.encode() + json.dumps(dict(msg.headers or {})).encode())
        captured.append(msg.data)

    for kind in ("provider", "coordinator", "caseworker", "notify"):
        await nc.subscribe(f"{namespace}.{kind}.>", cb=keep)

    app = create_app(settings.model_copy(update={"log_level": "DEBUG"}), notify_settings)
    async with app.router.lifespan_context(app):
        await publish_directory(js, namespace)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            r = await client.put(
                f"/providers/{PROVIDER}/webhook",
                json={"url": receiver.url},
                headers=auth("provider", provider_id=PROVIDER),
            )
            assert r.status_code == 201

            # given a case with its caseworker, and a referral whose routing reason quotes
            # the survivor (as a careless free-text field might)
            case_id = str(uuid.uuid4())
            opened = CaseOpened(
                caseworker="cw-dilnoza",
                office="dushanbe-nrm",
                region="dushanbe",
                categories=["trafficking"],
            )
            await publish(js, namespace, envelope(opened, case_id))
            event = routed(
                case_id=case_id,
                summary=f"{SURVIVOR_NAME}, born {SURVIVOR_BIRTH_DATE}, phone {SURVIVOR_PHONE}",
            )
            env = envelope(event, event.referral_id)
            # and a malformed copy that carries them as fields of its own
            doc = env.to_dict()
            doc["id"] = str(uuid.uuid4())
            doc["data"] |= {
                "name": SURVIVOR_NAME,
                "phone": SURVIVOR_PHONE,
                "date_of_birth": SURVIVOR_BIRTH_DATE,
            }
            await publish(js, namespace, env, msg_id=doc["id"], raw=json.dumps(doc).encode())
            await publish(js, namespace, env)
            accepted = ReferralAccepted(
                referral_id=event.referral_id, case_id=case_id, provider_id=PROVIDER
            )
            await publish(js, namespace, envelope(accepted, event.referral_id, version=2))

            # when the provider (NATS + webhook) and the caseworker have been told
            await eventually(
                lambda: notify_events(pool, "NotificationDelivered"), lambda d: len(d) == 3
            )
            await eventually(lambda: _len(captured), lambda n: n >= 2 * 8)

    queued = await notify_events(pool, "NotificationQueued")
    assert {(q["recipient_kind"], q["recipient_id"]) for q in queued} == {
        ("provider", PROVIDER),
        ("caseworker", "cw-dilnoza"),
    }
    assert len(receiver.received) == 1

    # then none of the planted values appears anywhere
    out, err = capfd.readouterr()
    haystacks = {
        "nats": b"\n".join(captured).decode(),
        "webhooks": "\n".join(json.dumps(r.headers) + r.body.decode() for r in receiver.received),
        "logs": out + err + caplog.text,
    }
    for table in NOTIFY_TABLES:
        rows = await pool.fetch(f"SELECT to_jsonb(t)::text AS row FROM notify.{table} AS t")
        haystacks[f"notify.{table}"] = "\n".join(r["row"] for r in rows)
    assert "notification_queued" in haystacks["logs"]  # the logs were captured
    assert "case_reference" in haystacks["nats"]  # and so were the notifications
    for where, text in haystacks.items():
        for value in PLANTED:
            assert value not in text, f"{value!r} leaked into {where}"


async def _len(items: list[bytes]) -> int:
    return len(items)
