"""The case learns that the coordinator left a need unmet (issue 13 item 6): the need's
referral shows ``unmet`` with the reason code, once, however often the event arrives."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from nats.js import JetStreamContext

from shared.events.referral import ReferralClosedUnmet, ReferralUnroutable
from tests.integration.case.stories import give_referral_consent, open_case
from tests.integration.notify.stories import envelope, eventually, publish, routed

Auth = Callable[..., dict[str, str]]


async def test_the_case_shows_the_need_unmet_with_the_coordinators_reason(
    client: httpx.AsyncClient, auth: Auth, js: JetStreamContext, namespace: str
) -> None:
    h = auth("caseworker")
    case_id = await open_case(client, h)
    await give_referral_consent(client, h, case_id)
    r = await client.post(
        f"/cases/{case_id}/referrals",
        json={"needs": ["shelter"], "urgency": "urgent"},
        headers=h,
    )
    assert r.status_code == 202, r.text
    request_id = str(r.json()["referral_id"])
    rid = str(uuid.uuid4())
    attempt = routed(rid, case_id=case_id, request_id=request_id, need="shelter")
    fields = attempt.model_dump(exclude={"provider_id", "respond_by"})
    unroutable = ReferralUnroutable(**fields, coordinator_id="nmac")
    await publish(js, namespace, envelope(unroutable, rid))
    closed = ReferralClosedUnmet(
        referral_id=rid,
        case_id=case_id,
        need="shelter",
        reason_code="no_provider_in_region",
        decided_by="nmac-officer-1",
        coordinator_id="nmac",
    )
    env = envelope(closed, rid, version=2)
    await publish(js, namespace, env)
    await publish(js, namespace, env, msg_id=f"again-{env.id}")  # redelivered

    async def view() -> dict[str, Any]:
        return dict((await client.get(f"/cases/{case_id}", headers=h)).json())

    def unmet(v: dict[str, Any]) -> bool:
        return bool(v["referrals"]) and v["referrals"][0].get("status") == "unmet"

    shown = (await eventually(view, unmet))["referrals"][0]
    [need] = shown["per_need"]
    assert (need["status"], need["unmet_reason"], need["provider_id"]) == (
        "unmet",
        "no_provider_in_region",
        None,
    )
    history = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
    kinds = [e["type"].split(".")[3] for e in history.json()["entries"]]
    assert kinds.count("ReferralClosedUnmet") == 1
