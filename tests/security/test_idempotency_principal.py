"""A stored Idempotency-Key response belongs to the whole principal that caused it, and is
replayed only to a caller who may still make that request.

- Two provider tokens may share a ``sub`` (one NGO app, two providers): provider Femida
  retrying provider Buston's key must not receive Buston's answer.
- A caseworker whose case was transferred away must not get the stored answer of an
  earlier write on it: the caller is authorised before anything is replayed.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import pytest

from services.referral.domain.commands import referral_id_for
from shared.auth import AuthConfig, Principal, mint_token
from shared.problems import PROBLEM_MEDIA_TYPE
from shared.settings import Settings
from tests.integration.case.stories import open_case
from tests.integration.referral.conftest import Publish, eventually, referral_events, request

BUSTON = "women-and-society-shelter-buston"
FEMIDA = "femida-shelter-dushanbe"
SHARED_SUB = "ngo-portal"  # one NGO portal account, acting for several providers

Token = Callable[..., dict[str, str]]


@pytest.fixture
def token(settings: Settings) -> Token:
    """``token("provider", sub=..., provider_id=...)``: exactly the claims given."""
    config = AuthConfig.from_settings(settings)

    def make(role: str, sub: str | None = None, **claims: Any) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_token(config, sub or role, role, **claims)}"}

    return make


def assert_not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)


async def test_another_provider_with_the_same_sub_does_not_get_the_stored_answer(
    referral_client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, token: Token
) -> None:
    case_id, req = str(uuid.uuid4()), request(needs=["shelter"])
    await publish(case_id, req)
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    buston = token("provider", sub=SHARED_SUB, provider_id=BUSTON)
    femida = token("provider", sub=SHARED_SUB, provider_id=FEMIDA)
    key = {"Idempotency-Key": "accept-7c1e"}

    first = await referral_client.post(f"/referrals/{rid}/accept", headers={**buston, **key})
    assert first.status_code == 200 and first.json()["status"] == "accepted", first.text

    stolen = await referral_client.post(f"/referrals/{rid}/accept", headers={**femida, **key})
    assert_not_found(stolen)
    assert first.json()["case_reference"] not in stolen.text
    assert "ETag" not in stolen.headers

    # Buston's own retry still gets its first answer; nothing was written twice.
    again = await referral_client.post(f"/referrals/{rid}/accept", headers={**buston, **key})
    assert again.status_code == 200 and again.json() == first.json()
    assert len(await referral_events(pool, stream=rid, name="ReferralAccepted")) == 1
    rows = await pool.fetch(
        "SELECT principal FROM referral.idempotency_key WHERE key = $1", key["Idempotency-Key"]
    )
    assert len(rows) == 1 and BUSTON in rows[0]["principal"]


async def test_a_caseworker_whose_case_was_transferred_away_gets_no_replay(
    client: httpx.AsyncClient, pool: asyncpg.Pool, token: Token
) -> None:
    khujand = token("caseworker", sub="cw-khujand-1", office="khujand-nrm", region="sughd")
    supervisor = token("supervisor", sub="sup-sughd", region="sughd")
    case_id = await open_case(client, khujand)
    keyed = {**khujand, "Idempotency-Key": "note-4d2a"}
    note = {"text": "Met at the shelter; safe for now."}

    first = await client.post(f"/cases/{case_id}/notes", json=note, headers=keyed)
    assert first.status_code == 200, first.text
    moved = await client.post(
        f"/cases/{case_id}/transfer",
        json={"to_caseworker": "cw-dushanbe-1", "to_office": "dushanbe-nrm"},
        headers=supervisor,
    )
    assert moved.status_code == 202, moved.text
    dushanbe = token("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm", region="sughd")
    accept = f"/cases/{case_id}/transfers/{moved.json()['transfer_id']}/accept"
    assert (await client.post(accept, headers=dushanbe)).status_code == 200
    assert_not_found(await client.get(f"/cases/{case_id}", headers=khujand))

    retried = await client.post(f"/cases/{case_id}/notes", json=note, headers=keyed)
    assert_not_found(retried)
    assert first.json()["note_id"] not in retried.text
    assert "ETag" not in retried.headers


def test_the_stored_key_names_every_claim_of_the_principal() -> None:
    from shared.http_writes import principal_key

    base = Principal(sub="cw-1", role="caseworker", office="khujand-nrm", region="sughd")
    variants = [
        dataclasses.replace(base, sub="cw-2"),
        dataclasses.replace(base, role="supervisor"),
        dataclasses.replace(base, office="dushanbe-nrm"),
        dataclasses.replace(base, office=None),
        dataclasses.replace(base, region="khatlon"),
        dataclasses.replace(base, region=None),
        Principal(sub="cw-1", role="provider", provider_id="p-1"),
        Principal(sub="cw-1", role="provider", provider_id="p-2"),
    ]
    keys = {principal_key(p) for p in [base, *variants]}
    assert len(keys) == len(variants) + 1
    assert principal_key(base) == principal_key(dataclasses.replace(base))
    # A claim value cannot be crafted to look like another split of the claims.
    a = Principal(sub="a:provider", role="caseworker")
    b = Principal(sub="a", role="caseworker", office="provider")
    assert principal_key(a) != principal_key(b)
