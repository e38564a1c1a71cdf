"""Who may do what: 401 without a valid token, 403 for a role that may not act, 404 for a
case that does not exist or lies outside the caller's scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import pytest

from shared.auth import AuthConfig, mint_token
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case

WRITES = [
    ("PUT", "/profile"),
    ("POST", "/needs"),
    ("POST", "/identification"),
    ("POST", "/consents"),
    ("POST", "/consents/c1/withdraw"),
    ("POST", "/referrals"),
    ("POST", "/notes"),
    ("POST", "/close"),
    ("POST", "/reopen"),
    ("POST", "/transfer"),
]


async def test_no_token_bad_token_and_expired_token_are_401(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    config = AuthConfig.from_settings(settings)
    expired = mint_token(
        config, "cw", "caseworker", now=datetime.now(UTC) - timedelta(hours=2), ttl_seconds=60
    )
    foreign = mint_token(
        AuthConfig("safepath-dev", "safepath", hs256_secret="another-secret-" + "x" * 32),
        "cw",
        "caseworker",
    )
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {foreign}"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ):
        for method, url in (("GET", "/cases"), ("POST", "/cases"), ("GET", f"/cases/{uuid4()}")):
            r = await client.request(method, url, headers=headers, json={})
            assert r.status_code == 401, (headers, url)
            assert r.headers["WWW-Authenticate"].startswith("Bearer")
            assert r.headers["content-type"] == "application/problem+json"
            assert expired not in r.text


async def test_an_auditor_reads_but_may_not_write(client: httpx.AsyncClient, auth: Token) -> None:
    case_id = await open_case(client, auth())
    auditor = auth("auditor")
    assert (await client.get(f"/cases/{case_id}", headers=auditor)).status_code == 200
    assert (await client.get("/cases", headers=auditor)).status_code == 200
    assert (await client.post("/cases", json={}, headers=auditor)).status_code == 403
    for method, suffix in WRITES:
        r = await client.request(method, f"/cases/{case_id}{suffix}", json={}, headers=auditor)
        assert r.status_code == 403, suffix


async def test_a_provider_may_do_nothing_here(client: httpx.AsyncClient, auth: Token) -> None:
    case_id = await open_case(client, auth())
    provider = auth("provider")
    for method, url in [("GET", "/cases"), ("GET", f"/cases/{case_id}"), ("POST", "/cases")] + [
        (m, f"/cases/{case_id}{s}") for m, s in WRITES
    ]:
        r = await client.request(method, url, json={}, headers=provider)
        assert r.status_code == 403, url
        assert r.json()["type"].endswith("/forbidden")


async def test_an_unknown_case_is_404_for_reads_and_writes(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth()
    unknown = uuid4()
    assert (await client.get(f"/cases/{unknown}", headers=h)).status_code == 404
    r = await client.post(f"/cases/{unknown}/notes", json={"text": "hello"}, headers=h)
    assert r.status_code == 404
    assert r.json()["type"].endswith("/not-found")


@pytest.mark.parametrize(
    ("role", "claims", "sees"),
    [
        ("caseworker", {"office": "khujand-nrm"}, True),  # same office
        ("caseworker", {"office": "kulob-nrm", "region": "sughd"}, False),  # other office
        ("caseworker", {"office": None, "region": "sughd"}, True),  # no office: region
        ("caseworker", {"office": None, "region": "khatlon"}, False),
        ("supervisor", {"region": "sughd"}, True),
        ("supervisor", {"region": "khatlon"}, False),
        ("auditor", {}, True),
        ("auditor", {"region": "gbao"}, False),
        ("admin", {}, True),
    ],
)
async def test_scope_decides_who_sees_a_case(
    client: httpx.AsyncClient, auth: Token, role: str, claims: dict[str, str | None], sees: bool
) -> None:
    case_id = await open_case(client, auth(sub="cw-owner"))  # a sughd case, office khujand-nrm
    caller = auth(role, sub="someone-else", **claims)  # None: the token lacks the claim
    read = await client.get(f"/cases/{case_id}", headers=caller)
    assert read.status_code == (200 if sees else 404)
    listed = await client.get("/cases", headers=caller)
    assert (case_id in [c["id"] for c in listed.json()["items"]]) is sees
    if role != "auditor":
        write = await client.post(f"/cases/{case_id}/notes", json={"text": "n"}, headers=caller)
        assert write.status_code == (200 if sees else 404)


async def test_a_caseworker_may_not_open_a_case_for_another_office_or_region(
    client: httpx.AsyncClient, auth: Token
) -> None:
    body = {"region": "sughd", "categories": ["trafficking"]}
    r = await client.post("/cases", json={**body, "office": "kulob-nrm"}, headers=auth())
    assert r.status_code == 403
    supervisor = auth("supervisor", region="khatlon")
    assert (await client.post("/cases", json=body, headers=supervisor)).status_code == 403
    r = await client.post("/cases", json={**body, "office": "khujand-nrm"}, headers=auth("admin"))
    assert r.status_code == 201
