"""``GET /cases/{id}?identifying=false``: the case without its identifying fields and
without an access record, so the web app can show a case page and open the identifying
fields only when the caseworker asks (that read is then recorded)."""

from __future__ import annotations

import httpx

from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case


async def _reads(client: httpx.AsyncClient, auth: Token, case_id: str) -> list[object]:
    r = await client.get(f"/cases/{case_id}/access-log", headers=auth("auditor"))
    assert r.status_code == 200
    reads: list[object] = r.json()["reads"]
    return reads


async def test_a_case_read_without_identifying_fields_is_not_recorded(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth("caseworker")
    case_id = await open_case(client, h)

    r = await client.get(f"/cases/{case_id}", params={"identifying": "false"}, headers=h)

    assert r.status_code == 200
    body = r.json()
    assert body["identifying_fields_visible"] is False
    assert body["profile"]["identifying"] is None
    assert body["identity_erased"] is False
    assert await _reads(client, auth, case_id) == []


async def test_the_default_read_still_opens_and_records(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth("caseworker")
    case_id = await open_case(client, h)

    r = await client.get(f"/cases/{case_id}", headers=h)

    assert r.json()["identifying_fields_visible"] is True
    assert len(await _reads(client, auth, case_id)) == 1
