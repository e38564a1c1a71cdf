"""Caseworkers and coordinators are told in their own language once they set it (today's
default is English); only the recipient itself, or an admin, may set it."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.notify.app.directory import DirectoryViews
from services.notify.domain.referral_facts import ReferralFacts
from shared.events.case import CaseOpened
from shared.events.referral import ReferralAccepted, ReferralEscalated
from tests.integration.notify.conftest import Token
from tests.integration.notify.stories import (
    PROVIDER,
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


async def test_the_contacts_of_an_event_come_with_their_languages_in_three_statements(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    # Issue 12: the coordinators' and the caseworker's languages are joined into the
    # statements that find them, not read one person at a time (five statements before).
    admin = auth("admin")
    for kind, who, language in (
        ("caseworker", "cw-khujand-1", "tg"),
        ("coordinator", "imcctip-secretariat", "ru"),
    ):
        r = await client.put(
            f"/recipients/{kind}/{who}/language", json={"language": language}, headers=admin
        )
        assert r.status_code == 200, r.text
    case_id = str(uuid.uuid4())
    await pool.execute(
        'INSERT INTO "notify".case_caseworker (case_id, caseworker) VALUES ($1, $2)',
        case_id,
        "cw-khujand-1",
    )
    facts = ReferralFacts(
        referral_id=str(uuid.uuid4()),
        case_id=case_id,
        needs=("shelter",),
        urgency="urgent",
        categories=("trafficking",),
        region="sughd",
        district=None,
        sex="female",
        age_band="18-24",
        language="tg",
        disability=False,
        provider_id=PROVIDER,
    )
    sent: list[str] = []

    def logged(q: Any) -> None:  # an asyncpg LoggedQuery
        sent.append(q.query)

    async with pool.acquire() as conn:
        conn.add_query_logger(logged)
        contacts = await DirectoryViews("notify").contacts_for(conn, facts)
        conn.remove_query_logger(logged)
    assert contacts.caseworkers[case_id].language == "tg"
    assert contacts.coordinators["trafficking"].id == "imcctip-secretariat"
    assert contacts.coordinators["trafficking"].language == "ru"
    assert contacts.providers[PROVIDER].language == "tg"
    assert len(sent) == 3, sent  # the provider, the coordinators, the caseworker
