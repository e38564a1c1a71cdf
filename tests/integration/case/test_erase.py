"""Erasure: the case key goes, identifying fields read as erased everywhere, the record
(and its hash chains) stays whole."""

from __future__ import annotations

import json
from collections.abc import Callable

import asyncpg
import httpx

from shared.chain import verify_chains
from tests.integration.case.stories import SECRETS, open_case

Auth = Callable[..., dict[str, str]]


async def test_erased_identity_reads_as_erased_in_view_and_history(
    client: httpx.AsyncClient, auth: Auth, pool: asyncpg.Pool
) -> None:
    # Given a case whose supervisor could read the survivor's name in its history
    case_id = await open_case(client, auth("caseworker"))
    s = auth("supervisor")
    before = await client.get(f"/cases/{case_id}/history", headers=s)
    assert any(x in before.text for x in SECRETS)
    reads_before = len(
        (await client.get(f"/cases/{case_id}/access-log", headers=s)).json()["reads"]
    )

    # When an admin erases the identity, giving a reason
    r = await client.post(
        f"/cases/{case_id}/erase", json={"reason_code": "survivor_request"}, headers=auth("admin")
    )
    assert r.status_code == 200, r.text

    # Then the case and its history (decrypted or not, exported or not) show nothing identifying
    view = await client.get(f"/cases/{case_id}", headers=auth("caseworker"))
    assert view.json()["identity_erased"] is True and view.json()["profile"]["identifying"] is None
    for headers, params in (
        (s, {}),
        (auth("auditor"), {"decrypt": "true"}),
        (auth("auditor"), {}),
        ({**s, "Accept": "text/csv"}, {}),
        ({**s, "Accept": "application/x-ndjson"}, {}),
    ):
        h = await client.get(f"/cases/{case_id}/history", params=params, headers=headers)
        assert h.status_code == 200 and not any(x in h.text for x in SECRETS)
        assert '"ct"' not in h.text.replace('""', '"')  # no ciphertext left to show either
    entries = (await client.get(f"/cases/{case_id}/history", headers=s)).json()["entries"]
    profiles = [e["data"]["profile"] for e in entries if "profile" in e["data"]]
    assert profiles and all(p["identifying"] == {"erased": True} for p in profiles)
    erased = entries[-1]
    assert erased["type"].endswith("IdentityErased.v1")
    assert (
        erased["actor"]["role"] == "admin" and erased["data"]["reason_code"] == "survivor_request"
    )
    # Nothing could be opened, so no read after the erasure was recorded
    after = (await client.get(f"/cases/{case_id}/access-log", headers=s)).json()["reads"]
    assert len(after) == reads_before == 1
    # And the record is whole: every chain verifies, the key row is gone, erasing again is refused
    assert (await verify_chains(pool, "case")).ok
    assert not await pool.fetchval(
        'SELECT count(*) FROM "case".case_key WHERE case_id = $1', case_id
    )
    again = await client.post(
        f"/cases/{case_id}/erase", json={"reason_code": "survivor_request"}, headers=auth("admin")
    )
    assert again.status_code == 409
    assert json.loads(again.text)["type"].endswith("identity_erased")
