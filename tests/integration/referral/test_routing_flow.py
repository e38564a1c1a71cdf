"""Stories across NATS: a case's referral request becomes routed referrals, and follows them."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.referral.domain.commands import referral_id_for
from shared.events.case import CaseClosed, ConsentWithdrawn
from tests.integration.referral.conftest import (
    Publish,
    Token,
    eventually,
    new_case_id,
    referral_events,
    request,
)

BUSTON = "women-and-society-shelter-buston"
FEMIDA = "femida-shelter-dushanbe"


async def test_a_request_delivered_twice_is_routed_once_per_need(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish
) -> None:
    case_id, req = new_case_id(), request()
    envelope = await publish(case_id, req)
    await eventually(lambda: referral_events(pool, name="ReferralRouted"))
    # The relay re-sends it after a crash: same event, a new message id past the dedup window.
    await publish(case_id, req, envelope=envelope, msg_id="redelivered-" + envelope.id)
    await asyncio.sleep(1.0)

    routed = await referral_events(pool, name="ReferralRouted")
    assert sorted(d["need"] for _, d in routed) == ["legal_aid", "shelter"]
    chosen = {d["need"]: d["provider_id"] for _, d in routed}
    assert chosen == {"shelter": BUSTON, "legal_aid": "legal-aid-centres-sughd"}
    assert all(d["case_id"] == case_id for _, d in routed)
    shelter = next(d for _, d in routed if d["need"] == "shelter")
    assert shelter["reasons"]["proximity"] == "region"
    assert shelter["reasons"]["passed_over"][0]["provider_id"] == FEMIDA


async def test_decline_goes_to_the_next_provider_and_the_last_to_the_coordinator(
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
    routed = await referral_events(pool, stream=rid, name="ReferralRouted")
    assert [d["provider_id"] for _, d in routed] == [BUSTON, FEMIDA]
    # Buston no longer holds it: it cannot see or answer it any more.
    gone = await client.get(f"/referrals/{rid}", headers=auth("provider", provider_id=BUSTON))
    assert gone.status_code == 404

    r = await client.post(
        f"/referrals/{rid}/decline",
        json={"reason_code": "not_eligible"},
        headers=auth("provider", provider_id=FEMIDA),
    )
    assert r.status_code == 200, r.text
    names = [n for n, _ in await referral_events(pool, stream=rid)]
    assert names == [
        "ReferralRouted",
        "ReferralDeclined",
        "ReferralRouted",
        "ReferralDeclined",
        "ReferralUnroutable",
    ]
    ((_, unroutable),) = await referral_events(pool, stream=rid, name="ReferralUnroutable")
    assert unroutable["coordinator_id"] == "imcctip-secretariat"
    failed = {c["provider_id"]: c["failed"] for c in unroutable["reasons"]["excluded"]}
    assert "already_tried" in failed[BUSTON] and "already_tried" in failed[FEMIDA]

    listed = await client.get(f"/cases/{case_id}/referrals", headers=auth("admin"))
    assert listed.status_code == 200
    (view,) = listed.json()
    assert view["status"] == "unroutable" and view["coordinator_id"] == "imcctip-secretariat"
    assert view["attempt"] == 3 and view["reasons"]["summary"].startswith("no provider")


async def test_referral_events_reach_the_referral_stream_with_the_case_id(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    publish: Publish,
    js: JetStreamContext,
    namespace: str,
) -> None:
    case_id, req = new_case_id(), request(needs=["legal_aid"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "legal_aid")
    sub = await js.subscribe(
        f"{namespace}.referral.{rid}.>", stream=f"{namespace}_REFERRAL".upper()
    )
    msg = await sub.next_msg(timeout=10)
    assert msg.subject == f"{namespace}.referral.{rid}.ReferralRouted"
    body = json.loads(msg.data)
    assert body["subject"] == rid and body["data"]["case_id"] == case_id
    assert body["causationid"] is not None
    await sub.unsubscribe()


async def test_withdrawn_consent_and_closed_case_withdraw_open_referrals(
    client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    case_id = new_case_id()
    first = request(needs=["shelter"])
    second = request(
        needs=["legal_aid"],
        consent=first.consent.model_copy(update={"consent_id": "consent-2"}),
    )
    await publish(case_id, first)
    await publish(case_id, second)
    await eventually(lambda: _count(pool, "ReferralRouted", 2))

    await publish(case_id, ConsentWithdrawn(consent_id="consent-1"))
    withdrawn = await eventually(lambda: referral_events(pool, name="ReferralWithdrawn"))
    assert [(d["referral_id"], d["cause"], d["provider_id"]) for _, d in withdrawn] == [
        (referral_id_for(first.referral_id, "shelter"), "consent_withdrawn", BUSTON)
    ]

    await publish(case_id, CaseClosed(reason="services_completed"))
    await eventually(lambda: _count(pool, "ReferralWithdrawn", 2))
    listed = (await client.get(f"/cases/{case_id}/referrals", headers=auth("admin"))).json()
    assert {v["status"] for v in listed} == {"withdrawn"}
    # Closing again (redelivered or a second close) withdraws nothing more.
    await publish(case_id, CaseClosed(reason="other"))
    await asyncio.sleep(0.5)
    assert len(await referral_events(pool, name="ReferralWithdrawn")) == 2


async def _count(pool: asyncpg.Pool, name: str, n: int) -> bool:
    return len(await referral_events(pool, name=name)) >= n
