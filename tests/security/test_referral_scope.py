"""A referral is seen within the scope of its case as the case stands NOW, in the referral
service and in the notify service: after a transfer the old office loses the referral (and
who it went to), the new owner gains it; after the person moves region, so does the
supervisors' scope. Whatever falls outside scope reads as 404, like what does not exist."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from services.notify.config import NotifySettings
from services.notify.main import create_app as create_notify_app
from services.referral.domain.commands import referral_id_for
from shared.auth import AuthConfig, mint_token
from shared.envelope import Envelope, dataschema_for
from shared.events.base import Event, Sealed
from shared.events.case import (
    CaseOpened,
    CaseTransferred,
    SurvivorProfile,
    SurvivorProfileUpdated,
)
from shared.ids import uuid7
from shared.problems import PROBLEM_MEDIA_TYPE
from shared.settings import Settings
from tests.integration.notify import stories
from tests.integration.referral.conftest import Publish, eventually, referral_events, request

OLD_OFFICE, NEW_OFFICE = "khujand-nrm", "dushanbe-nrm"
OLD_CW, NEW_CW = "cw-khujand", "cw-dushanbe"
BUSTON = "women-and-society-shelter-buston"

Token = Callable[..., dict[str, str]]
Status = Callable[[], Awaitable[int]]


@pytest.fixture
def token(settings: Settings) -> Token:
    """``token("caseworker", sub=..., office=...)``: exactly the claims given, no defaults."""
    config = AuthConfig.from_settings(settings)

    def make(role: str, sub: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(config, sub or role, role, **claims)}"}

    return make


@pytest.fixture
async def notify_client(
    service_settings: Callable[..., Settings],
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_notify_app(
        service_settings("notify"),
        NotifySettings(
            backoff_seconds=[0.2, 0.2], webhook_timeout_seconds=2.0, nats_timeout_seconds=2.0
        ),
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def case_envelope(case_id: str, event: Event, version: int) -> Envelope:
    return Envelope(
        id=str(uuid7()),
        source="safepath/case",
        type=event.type_name(),
        subject=case_id,
        time=datetime.now(UTC),
        dataschema=dataschema_for(event.type_name()),
        streamversion=version,
        correlationid=str(uuid7()),
        actor=f"caseworker:{OLD_CW}",
        data=event.model_dump(mode="json"),
    )


def transfer() -> CaseTransferred:
    return CaseTransferred(
        from_caseworker=OLD_CW, to_caseworker=NEW_CW, from_office=OLD_OFFICE, to_office=NEW_OFFICE
    )


def profile_in(region: str) -> SurvivorProfileUpdated:
    sealed = Sealed(kid="k", nonce="bm9uY2Vub25jZTE=", ct="Y2lwaGVydGV4dA==")
    return SurvivorProfileUpdated(
        profile=SurvivorProfile(
            identifying=sealed,
            age_band="25-39",
            sex="female",
            disability=False,
            language="tg",
            region=region,
            categories=["trafficking"],
        )
    )


async def becomes(status: Status, expected: int) -> None:
    async def check() -> bool:
        return await status() == expected

    await eventually(check, within=10.0)


def assert_hidden(r: httpx.Response, *secrets: str) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    for s in secrets:
        assert s not in r.text


# -- the referral service ----------------------------------------------------------------------


async def _routed_referral(pool: asyncpg.Pool, publish: Publish) -> tuple[str, str]:
    case_id = str(uuid.uuid4())
    req = request(needs=["shelter"], office=OLD_OFFICE, caseworker=OLD_CW, region="sughd")
    await publish(case_id, req)  # case stream version 1
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    return case_id, rid


async def test_a_transfer_moves_the_referral_to_the_new_office(
    referral_client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, token: Token
) -> None:
    case_id, rid = await _routed_referral(pool, publish)
    old_colleague = token("caseworker", sub="cw-khujand-2", office=OLD_OFFICE)
    old_owner = token("caseworker", sub=OLD_CW, office=OLD_OFFICE)
    new_colleague = token("caseworker", sub="cw-dushanbe-2", office=NEW_OFFICE)
    new_owner = token("caseworker", sub=NEW_CW)  # no office claim: as the responsible one
    one, listed = f"/referrals/{rid}", f"/cases/{case_id}/referrals"

    async def status_for(headers: dict[str, str]) -> int:
        return (await referral_client.get(one, headers=headers)).status_code

    assert await status_for(old_colleague) == 200
    assert await status_for(old_owner) == 200
    assert await status_for(new_colleague) == 404
    assert await status_for(new_owner) == 404

    await publish(case_id, transfer())  # case stream version 2

    await becomes(lambda: status_for(old_colleague), 404)
    for headers in (old_colleague, old_owner):
        assert_hidden(await referral_client.get(one, headers=headers), case_id, BUSTON)
        r = await referral_client.get(listed, headers=headers)
        assert r.status_code == 200 and r.json() == []
    for headers in (new_colleague, new_owner):
        r = await referral_client.get(one, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["case_id"] == case_id and r.json()["provider_id"] == BUSTON
        assert [
            x["referral_id"] for x in (await referral_client.get(listed, headers=headers)).json()
        ] == [rid]


async def test_an_older_case_event_arriving_late_does_not_undo_a_transfer(
    referral_client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    publish: Publish,
    token: Token,
    js: JetStreamContext,
    namespace: str,
) -> None:
    case_id, rid = await _routed_referral(pool, publish)
    old_colleague = token("caseworker", sub="cw-khujand-2", office=OLD_OFFICE)
    new_colleague = token("caseworker", sub="cw-dushanbe-2", office=NEW_OFFICE)

    async def status_for(headers: dict[str, str]) -> int:
        return (await referral_client.get(f"/referrals/{rid}", headers=headers)).status_code

    await publish(case_id, transfer(), envelope=case_envelope(case_id, transfer(), 2))
    await becomes(lambda: status_for(new_colleague), 200)
    # The case's opening (version 1) redelivered after the transfer changes nothing.
    opened = CaseOpened(
        caseworker=OLD_CW, office=OLD_OFFICE, region="sughd", categories=["trafficking"]
    )
    await publish(case_id, opened, envelope=case_envelope(case_id, opened, 1))

    async def handled() -> bool:  # the consumer has acked everything: the late one too
        info = await js.consumer_info(f"{namespace}_CASE".upper(), "referral-case-events")
        return info.num_pending == 0 and info.num_ack_pending == 0

    await eventually(handled)
    position = await pool.fetchval(
        "SELECT version FROM referral.inbox_stream WHERE stream_id = $1", case_id
    )
    assert position == 2  # the late version 1 was recognised as passed, not applied
    assert await status_for(new_colleague) == 200
    assert await status_for(old_colleague) == 404


async def test_supervisors_follow_the_persons_current_region(
    referral_client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, token: Token
) -> None:
    _, rid = await _routed_referral(pool, publish)
    sughd = token("supervisor", region="sughd")
    khatlon = token("supervisor", region="khatlon")
    auditor_sughd = token("auditor", region="sughd")

    async def status_for(headers: dict[str, str]) -> int:
        return (await referral_client.get(f"/referrals/{rid}", headers=headers)).status_code

    assert await status_for(sughd) == 200 and await status_for(khatlon) == 404
    case_id = (await referral_client.get(f"/referrals/{rid}", headers=sughd)).json()["case_id"]
    await publish(case_id, profile_in("khatlon"))  # the person moved: case version 2
    await becomes(lambda: status_for(khatlon), 200)
    assert_hidden(await referral_client.get(f"/referrals/{rid}", headers=sughd), case_id)
    assert await status_for(auditor_sughd) == 404


# -- the notify service ------------------------------------------------------------------------


async def test_a_referrals_notifications_are_seen_only_within_the_cases_scope(
    notify_client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
    token: Token,
) -> None:
    event = stories.routed(region="sughd", district="khujand", provider_id=BUSTON)
    case_id = event.case_id
    opened = CaseOpened(
        caseworker=OLD_CW, office=OLD_OFFICE, region="sughd", categories=["trafficking"]
    )
    await stories.publish(js, namespace, stories.envelope(opened, case_id, version=1))
    await stories.publish(js, namespace, stories.envelope(event, event.referral_id))
    path = f"/referrals/{event.referral_id}/notifications"

    async def status_for(headers: dict[str, str]) -> int:
        return (await notify_client.get(path, headers=headers)).status_code

    admin = token("admin")
    await becomes(lambda: status_for(admin), 200)
    old_colleague = token("caseworker", sub="cw-khujand-2", office=OLD_OFFICE)
    new_colleague = token("caseworker", sub="cw-dushanbe-2", office=NEW_OFFICE)
    outsiders = (
        token("caseworker", sub="cw-gbao", region="gbao"),
        token("caseworker", sub="cw-khorog", office="khorog-nrm", region="gbao"),
        token("supervisor", region="gbao"),
        token("supervisor"),  # a supervisor without a region has no cases
        token("auditor", region="khatlon"),
        new_colleague,
    )
    insiders = (
        old_colleague,
        token("caseworker", sub=OLD_CW),
        token("supervisor", region="sughd"),
        token("auditor", region="sughd"),
        token("auditor"),
        admin,
    )
    # notify learns of the case on its own consumer: wait until the owner's office sees it
    await becomes(lambda: status_for(old_colleague), 200)
    for headers in outsiders:
        assert_hidden(await notify_client.get(path, headers=headers), BUSTON, OLD_CW)
    for headers in insiders:
        r = await notify_client.get(path, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["notifications"][0]["recipient_id"] == BUSTON

    await stories.publish(js, namespace, stories.envelope(transfer(), case_id, version=2))
    await becomes(lambda: status_for(new_colleague), 200)
    assert_hidden(await notify_client.get(path, headers=old_colleague), BUSTON, OLD_CW)
    assert await status_for(token("caseworker", sub=NEW_CW)) == 200

    await stories.publish(
        js, namespace, stories.envelope(profile_in("khatlon"), case_id, version=3)
    )
    await becomes(lambda: status_for(token("supervisor", region="khatlon")), 200)
    assert await status_for(token("supervisor", region="sughd")) == 404
    assert await status_for(token("auditor", region="sughd")) == 404
    # A provider still sees only what was sent to it, wherever the case is.
    assert await status_for(token("provider", provider_id=BUSTON)) == 200
    assert await status_for(token("provider", provider_id="femida-shelter-dushanbe")) == 404
