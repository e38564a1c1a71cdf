"""A need left unmet reaches the case's caseworker, in the language they set, once however
often the event arrives; nobody else hears it (issue 13 item 6)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.events.case import CaseOpened
from shared.events.referral import ReferralClosedUnmet, ReferralUnroutable
from tests.integration.notify.conftest import Token
from tests.integration.notify.stories import (
    PLANTED,
    envelope,
    eventually,
    notify_events,
    publish,
    routed,
)


async def test_the_caseworker_hears_the_coordinators_decision_in_their_language(
    client: httpx.AsyncClient,
    auth: Token,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    cw = auth("caseworker", sub="cw-rasht-1")
    r = await client.put(
        "/recipients/caseworker/cw-rasht-1/language", json={"language": "ru"}, headers=cw
    )
    assert r.status_code == 200, r.text
    attempt = routed()
    fields = attempt.model_dump(exclude={"provider_id", "respond_by"})
    unroutable = ReferralUnroutable(**fields, coordinator_id="imcctip-secretariat")
    rid, case_id = unroutable.referral_id, unroutable.case_id
    opened = CaseOpened(caseworker="cw-rasht-1", region="dushanbe", categories=["trafficking"])
    await publish(js, namespace, envelope(opened, case_id, version=1))
    await publish(js, namespace, envelope(unroutable, rid, version=1))
    await eventually(lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 1)

    closed = ReferralClosedUnmet(
        referral_id=rid,
        case_id=case_id,
        need="shelter",
        reason_code="person_moved",
        decided_by="imcctip-officer-2",
        coordinator_id="imcctip-secretariat",
    )
    env = envelope(closed, rid, version=2)
    await publish(js, namespace, env)
    await publish(js, namespace, env, msg_id=f"again-{env.id}")  # redelivered

    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) >= 2
    )
    await asyncio.sleep(0.5)  # room for the redelivery to be (not) queued again
    queued = await notify_events(pool, "NotificationQueued")
    unmet = [q for q in queued if q["template"] == "need_unmet"]
    assert len(unmet) == 1
    [told] = unmet
    assert (told["recipient_kind"], told["recipient_id"], told["language"]) == (
        "caseworker",
        "cw-rasht-1",
        "ru",
    )
    data = told["notification"]["data"]
    assert data["reason_code"] == "person_moved" and "человек переехал" in data["message"]["text"]
    text = json.dumps(told["notification"], ensure_ascii=False)
    assert case_id not in text and "imcctip-officer-2" not in text
    for value in PLANTED:
        assert value not in text
