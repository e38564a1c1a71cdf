"""Handover: the provider that accepted reads, over HTTPS, exactly the identifying fields
the survivor's consent lets the case share with it; every read is recorded on the case;
without such consent the answer says which categories are missing."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.envelope import Envelope, dataschema_for
from shared.events.base import Event
from shared.events.case import ConsentScope
from shared.events.referral import ReferralAccepted, ReferralRouted, RoutingReasons
from shared.ids import uuid7
from tests.integration.case.conftest import Token
from tests.integration.case.stories import FAMILY_NAME, GIVEN_NAME, PHONE, open_case
from tests.keys import signed

SHELTER = "women-and-society-shelter-buston"


async def _publish(js: JetStreamContext, namespace: str, event: Event, stream: str, v: int) -> None:
    env = Envelope(
        id=str(uuid7()),
        source="safepath/referral",
        type=event.type_name(),
        subject=stream,
        time=datetime.now(UTC),
        dataschema=dataschema_for(event.type_name()),
        streamversion=v,
        correlationid=str(uuid7()),
        actor="service:referral",
        data=event.model_dump(mode="json"),
    )
    await js.publish(
        f"{namespace}.referral.{stream}.{event.name()}",
        signed(env),
        headers={"Nats-Msg-Id": env.id},
    )


async def _accepted_referral(
    client: httpx.AsyncClient,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
    cw: dict[str, str],
    categories: list[str],
) -> tuple[str, str, str]:
    """A case whose shelter referral (under a consent with ``categories``) was accepted."""
    case_id = await open_case(client, cw)
    consent = {
        "purpose": "referral",
        "service_types": ["shelter"],
        "data_categories": ["needs", "demographics", *categories],
    }
    r = await client.post(f"/cases/{case_id}/consents", json=consent, headers=cw)
    consent_id = r.json()["consent_id"]
    r = await client.post(
        f"/cases/{case_id}/referrals",
        json={"needs": ["shelter"], "urgency": "urgent", "consent_id": consent_id},
        headers=cw,
    )
    assert r.status_code == 202, r.text
    request_id = r.json()["referral_id"]
    rid = str(uuid.uuid5(uuid.UUID(request_id), "shelter"))
    facts: dict[str, Any] = {
        "referral_id": rid,
        "case_id": case_id,
        "request_id": request_id,
        "need": "shelter",
        "urgency": "urgent",
        "attempt": 1,
        "reasons": RoutingReasons(
            matched=[],
            proximity="district",
            language_match=True,
            consent_basis="service_type",
            passed_over=[],
            excluded=[],
            not_offering=0,
            summary="test",
        ),
        "categories": ["trafficking"],
        "region": "sughd",
        "district": "khujand",
        "sex": "female",
        "age_band": "25-39",
        "language": "tg",
        "disability": False,
        "consent": ConsentScope(
            consent_id=consent_id,
            service_types=["shelter"],
            provider_ids=[],
            data_categories=consent["data_categories"],
            expires_at=None,
        ),
        "emergency_without_consent": False,
    }
    routed = ReferralRouted(
        **facts, provider_id=SHELTER, respond_by=datetime.now(UTC) + timedelta(hours=1)
    )
    await _publish(js, namespace, routed, rid, 1)
    accepted = ReferralAccepted(referral_id=rid, case_id=case_id, provider_id=SHELTER)
    await _publish(js, namespace, accepted, rid, 2)
    for _ in range(200):
        status = await pool.fetchval(
            'SELECT status FROM "case".case_referral_status WHERE referral_id = $1', rid
        )
        if status == "accepted":
            break
        await asyncio.sleep(0.05)
    assert status == "accepted"
    return case_id, rid, consent_id


async def test_the_accepting_shelter_reads_the_consented_fields_and_the_read_is_recorded(
    client: httpx.AsyncClient, auth: Token, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker")
    case_id, rid, consent_id = await _accepted_referral(
        client, js, namespace, pool, cw, ["identity", "contact"]
    )
    shelter = auth("provider", provider_id=SHELTER)

    r = await client.get(f"/referrals/{rid}/handover", headers=shelter)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["given_name"], body["family_name"]) == (GIVEN_NAME, FAMILY_NAME)
    assert body["contact_arrangement"] is not None
    assert "date_of_birth" not in body and "narrative" not in body and case_id not in r.text
    log = await client.get(f"/cases/{case_id}/access-log", headers=auth("auditor"))
    assert "handover.given_name" in log.text and SHELTER in log.text

    # Another provider, or a caseworker: nothing.
    other = auth("provider", provider_id="femida-shelter-dushanbe")
    assert (await client.get(f"/referrals/{rid}/handover", headers=other)).status_code == 404
    assert (await client.get(f"/referrals/{rid}/handover", headers=cw)).status_code == 403
    # Once the consent is withdrawn: refused at once, naming what is missing.
    await client.post(f"/cases/{case_id}/consents/{consent_id}/withdraw", json={}, headers=cw)
    r = await client.get(f"/referrals/{rid}/handover", headers=shelter)
    assert r.status_code == 403 and r.json()["missing"] == ["identity", "contact"]


async def test_without_identity_or_contact_consent_the_handover_says_what_is_missing(
    client: httpx.AsyncClient, auth: Token, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker")
    _, rid, _ = await _accepted_referral(client, js, namespace, pool, cw, [])
    shelter = auth("provider", provider_id=SHELTER)

    r = await client.get(f"/referrals/{rid}/handover", headers=shelter)

    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["missing"] == ["identity", "contact"]
    assert GIVEN_NAME not in r.text and PHONE not in r.text


async def test_contact_only_hands_over_the_contact_arrangement(
    client: httpx.AsyncClient, auth: Token, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker")
    _, rid, _ = await _accepted_referral(client, js, namespace, pool, cw, ["contact"])

    r = await client.get(
        f"/referrals/{rid}/handover", headers=auth("provider", provider_id=SHELTER)
    )

    assert r.status_code == 200 and set(r.json()) == {
        "referral_id",
        "categories",
        "contact_arrangement",
    }
