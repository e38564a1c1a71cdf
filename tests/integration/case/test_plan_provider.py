"""A plan goal's responsible provider against the directory the case service heard from the
referral service's directory events: an unknown, suspended or unfitting provider is 422 at
body.provider_id and appends nothing; a listed one offering the need is taken."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.referral.data import DEFAULT_DIRECTORY
from services.referral.domain.directory import parse_directory
from services.referral.domain.directory_view import DirectoryView, import_directory
from shared.events.referral import ProviderRegistered, ProviderSuspended
from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case
from tests.integration.notify.stories import envelope, eventually, publish

BUSTON = "women-and-society-shelter-buston"  # shelter, legal aid, medical, psychosocial


async def _hear_directory(js: JetStreamContext, namespace: str, pool: asyncpg.Pool) -> None:
    """The directory as the referral service publishes it when it starts, then one
    provider suspended; until the case service has applied it."""
    events = import_directory(
        DirectoryView(), parse_directory(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    )
    suspended = ProviderSuspended(provider_id="femida-shelter-dushanbe", reason_code="other")
    for version, event in enumerate([*events, suspended], start=1):
        await publish(js, namespace, envelope(event, "directory", version=version))
    providers = sum(isinstance(e, ProviderRegistered) for e in events)

    async def heard() -> tuple[int, int]:
        row = await pool.fetchrow(
            "SELECT count(*) AS n, count(*) FILTER (WHERE suspended) AS s"
            ' FROM "case".directory_provider'
        )
        return int(row["n"]), int(row["s"])

    await eventually(heard, lambda h: h == (providers, 1))


async def test_the_responsible_provider_is_checked_against_the_directory(
    client: httpx.AsyncClient,
    auth: Token,
    pool: asyncpg.Pool,
    js: JetStreamContext,
    namespace: str,
) -> None:
    await _hear_directory(js, namespace, pool)
    h = auth("caseworker")
    case_id = await open_case(client, h)
    needs = {"needs": ["shelter", "livelihood"]}
    assert (await client.post(f"/cases/{case_id}/needs", json=needs, headers=h)).status_code == 200
    due = (date.today() + timedelta(days=10)).isoformat()
    before = await pool.fetchval('SELECT count(*) FROM "case".event WHERE stream_id = $1', case_id)

    for provider, need, message in (
        ("no-such-provider", "shelter", "no provider with that id in the service directory"),
        ("femida-shelter-dushanbe", "shelter", "the provider is suspended"),
        (BUSTON, "livelihood", "the provider does not offer livelihood"),
    ):
        goal = {"need": need, "provider_id": provider, "due_on": due}
        r = await client.put(f"/cases/{case_id}/plan/goals/g-1", json=goal, headers=h)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
        [error] = r.json()["errors"]
        assert error["path"] == "body.provider_id" and message in error["message"], r.text
    after = await pool.fetchval('SELECT count(*) FROM "case".event WHERE stream_id = $1', case_id)
    assert after == before

    goal = {"need": "shelter", "provider_id": BUSTON, "due_on": due}
    r = await client.put(f"/cases/{case_id}/plan/goals/g-1", json=goal, headers=h)
    assert r.status_code == 200, r.text
    [shown] = (await client.get(f"/cases/{case_id}", headers=h)).json()["plan"]
    assert shown["provider_id"] == BUSTON
