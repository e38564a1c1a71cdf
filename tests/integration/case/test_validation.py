"""Invalid input is a 422 problem naming the field paths, never the values, and changes
nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.case.conftest import Token
from tests.integration.case.stories import SECRETS, intake, open_case, profile

TOMORROW = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()


async def count_events(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval('SELECT count(*) FROM "case".event'))


INVALID_INTAKES: list[tuple[str, dict[str, Any], str]] = [
    ("wrong type", {**intake(), "categories": "trafficking"}, "body.categories"),
    ("unknown enum", intake(sex="woman"), "body.profile.sex"),
    ("unknown category", {**intake(), "categories": ["smuggling"]}, "body.categories.0"),
    ("missing field", {"categories": ["trafficking"]}, "body.region"),
    ("missing profile field", intake(language=None), "body.profile.language"),
    ("oversize name", intake(given_name="Z" * 101), "body.profile.given_name"),
    ("oversize narrative", intake(narrative="x" * 10_001), "body.profile.narrative"),
    ("invalid date", intake(date_of_birth="1999-02-30"), "body.profile.date_of_birth"),
    ("birth in the future", intake(date_of_birth=TOMORROW), "body.profile.date_of_birth"),
    ("birth before 1900", intake(date_of_birth="1899-12-31"), "body.profile.date_of_birth"),
    ("unknown field", {**intake(), "passport": "X"}, "body.passport"),
    ("district of another region", intake(district="kulob"), "body.profile"),
    ("age out of range", intake(estimated_age_years=131), "body.profile.estimated_age_years"),
]


@pytest.mark.parametrize(
    ("body", "path"),
    [(b, p) for _, b, p in INVALID_INTAKES],
    ids=[n for n, _, _ in INVALID_INTAKES],
)
async def test_an_invalid_intake_is_refused_with_the_field_path(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool, body: dict[str, Any], path: str
) -> None:
    r = await client.post("/cases", json=body, headers=auth())
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert path in [e["path"] for e in problem["errors"]]
    assert not any(secret in r.text for secret in SECRETS)
    assert await count_events(pool) == 0
    assert await pool.fetchval('SELECT count(*) FROM "case".case_key') == 0


async def test_a_future_birth_date_is_not_echoed(client: httpx.AsyncClient, auth: Token) -> None:
    r = await client.post("/cases", json=intake(date_of_birth=TOMORROW), headers=auth())
    assert r.status_code == 422 and TOMORROW not in r.text


async def test_a_body_that_is_not_json_is_a_422(client: httpx.AsyncClient, auth: Token) -> None:
    r = await client.post(
        "/cases", content=b"{not json", headers={**auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 422


INVALID_CHANGES: list[tuple[str, str, dict[str, Any]]] = [
    ("put", "/profile", profile(sex=1)),
    ("post", "/needs", {"needs": ["shelter", "shelter"]}),
    ("post", "/needs", {"needs": ["spa"]}),
    ("post", "/identification", {"status": "maybe", "basis": "review", "deciding_agency": "ngo"}),
    ("post", "/consents", {"purpose": "referral", "data_categories": ["needs"]}),
    (
        "post",
        "/consents",
        {
            "purpose": "referral",
            "service_types": ["shelter"],
            "data_categories": ["needs"],
            "expires_at": "2030-01-01T00:00",
        },
    ),
    ("post", "/referrals", {"needs": [], "urgency": "urgent"}),
    ("post", "/referrals", {"needs": ["shelter"], "urgency": "soon"}),
    ("post", "/notes", {"text": ""}),
    ("post", "/notes", {"text": "x" * 10_001}),
    ("post", "/close", {"reason": "bored"}),
    ("post", "/reopen", {}),
    ("post", "/transfer", {}),
    ("post", "/consents/c%20x/withdraw", {}),
]


@pytest.mark.parametrize(("method", "suffix", "body"), INVALID_CHANGES)
async def test_an_invalid_change_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    auth: Token,
    pool: asyncpg.Pool,
    method: str,
    suffix: str,
    body: dict[str, Any],
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    before = await count_events(pool)
    r = await client.request(method.upper(), f"/cases/{case_id}{suffix}", json=body, headers=h)
    assert r.status_code == 422, r.text
    assert r.json()["errors"]
    assert await count_events(pool) == before


async def test_bad_if_match_case_id_and_cursor_are_422(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    bad_etag = await client.post(
        f"/cases/{case_id}/notes", json={"text": "a"}, headers={**h, "If-Match": "yesterday"}
    )
    assert bad_etag.status_code == 422
    assert (await client.get("/cases/not-a-uuid", headers=h)).status_code == 422
    assert (await client.get("/cases", params={"cursor": "!!"}, headers=h)).status_code == 422
    assert (await client.get("/cases", params={"limit": 0}, headers=h)).status_code == 422
