"""Caseworkers and coordinators are told in their own language once they set it (today's
default is English); only the recipient itself, or an admin, may set it."""

from __future__ import annotations

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.events.case import CaseOpened
from shared.events.referral import ReferralAccepted, ReferralEscalated
from tests.integration.notify.conftest import Token
from tests.integration.notify.stories import (
    envelope,
    eventually,
    notify_events,
    publish,
    routed,
)


async def test_a_caseworker_and_a_coordinator_hear_in_the_language_they_set(
    client: httpx.AsyncClient,
    auth: Token,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    cw = auth("caseworker", sub="cw-dushanbe-2")
    r = await client.put(
        "/recipients/caseworker/cw-dushanbe-2/language", json={"language": "tg"}, headers=cw
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        "/recipients/coordinator/imcctip-secretariat/language",
        json={"language": "ru"},
        headers=auth("admin"),
    )
    assert r.status_code == 200, r.text

    event = routed()
    opened = CaseOpened(caseworker="cw-dushanbe-2", region="dushanbe", categories=["trafficking"])
    await publish(js, namespace, envelope(opened, event.case_id, version=1))
    await publish(js, namespace, envelope(event, event.referral_id, version=1))
    accepted = ReferralAccepted(
        referral_id=event.referral_id, case_id=event.case_id, provider_id=event.provider_id
    )
    await publish(js, namespace, envelope(accepted, event.referral_id, version=2))
    escalated = ReferralEscalated(
        referral_id=event.referral_id,
        case_id=event.case_id,
        provider_id=event.provider_id,
        deadline=event.respond_by,
    )
    await publish(js, namespace, envelope(escalated, event.referral_id, version=3))

    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 3
    )
    told = {q["recipient_kind"]: q["language"] for q in queued}
    # The provider's from the directory; the caseworker's and coordinator's their own.
    assert told == {"provider": "tg", "caseworker": "tg", "coordinator": "ru"}


async def test_only_the_recipient_or_an_admin_sets_its_language(
    client: httpx.AsyncClient, auth: Token
) -> None:
    body = {"language": "ru"}
    cw = auth("caseworker", sub="cw-1")
    assert (
        await client.put("/recipients/caseworker/cw-2/language", json=body, headers=cw)
    ).status_code == 403
    assert (
        await client.put("/recipients/coordinator/nmac/language", json=body, headers=cw)
    ).status_code == 403
    for headers in (auth("provider", provider_id="x"), auth("auditor"), auth("coordinator")):
        r = await client.put("/recipients/caseworker/cw-1/language", json=body, headers=headers)
        assert r.status_code == 403
    sv = auth("supervisor", office="khujand-nrm", region="sughd")
    assert (
        await client.put("/recipients/supervisor/khujand-nrm/language", json=body, headers=sv)
    ).status_code == 200
    assert (
        await client.put("/recipients/supervisor/khorog/language", json=body, headers=sv)
    ).status_code == 403
    bad = await client.put(
        "/recipients/caseworker/cw-1/language", json={"language": "fr"}, headers=cw
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["path"] == "body.language"
    got = await client.get("/recipients/caseworker/cw-1/language", headers=cw)
    assert got.status_code == 200 and got.json()["language"] == "en"  # the default
