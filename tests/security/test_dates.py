"""Times from clients (``as_of``, ``from``, ``to``, ``expires_at``) that cannot be converted
to UTC are bad input: 422 problem+json naming the field, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
from pydantic import TypeAdapter, ValidationError

from services.referral.domain.commands import referral_id_for
from shared.problems import PROBLEM_MEDIA_TYPE
from shared.times import UtcDatetime
from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case
from tests.integration.referral.conftest import (
    Publish,
    eventually,
    new_case_id,
    referral_events,
    request,
)

# Valid RFC 3339, but a year beyond 9999 or before 1 once in UTC.
OVERFLOWING = (
    "9999-12-31T23:59:59-12:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999999-00:01",
    "0001-01-01T00:00:00+23:59",
)
NAIVE = "2026-01-01T00:00:00"


UTC_TIME: TypeAdapter[datetime] = TypeAdapter(UtcDatetime)


def test_client_times_are_normalised_to_utc() -> None:
    assert UTC_TIME.validate_python("2026-03-01T05:00:00+05:00") == datetime(2026, 3, 1, tzinfo=UTC)
    assert UTC_TIME.validate_python("2026-03-01T05:00:00+05:00").tzinfo is UTC
    assert UTC_TIME.validate_python("9999-12-31T23:59:59.999999Z") == datetime.max.replace(
        tzinfo=UTC
    )


@pytest.mark.parametrize("value", [*OVERFLOWING, NAIVE])
def test_times_utc_cannot_hold_are_refused_without_quoting_them(value: str) -> None:
    with pytest.raises(ValidationError) as e:
        UTC_TIME.validate_python(value)
    assert value not in str(e.value.errors(include_input=False))


def assert_invalid(r: httpx.Response, path: str) -> None:
    assert r.status_code == 422, (path, r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert [e["path"] for e in r.json()["errors"]] == [path]


def consent(expires_at: str) -> dict[str, Any]:
    return {
        "purpose": "referral",
        "service_types": ["shelter"],
        "data_categories": ["needs"],
        "expires_at": expires_at,
    }


async def test_case_service_refuses_times_outside_the_utc_range(
    client: httpx.AsyncClient, auth: Token
) -> None:
    caseworker, auditor = auth("caseworker"), auth("auditor")
    case_id = await open_case(client, caseworker)
    url = f"/cases/{case_id}"
    for value in (*OVERFLOWING, NAIVE):
        r = await client.get(url, params={"as_of": value}, headers=caseworker)
        assert_invalid(r, "query.as_of")
        for name in ("from", "to"):
            r = await client.get(f"{url}/history", params={name: value}, headers=auditor)
            assert_invalid(r, f"query.{name}")
        r = await client.post(f"{url}/consents", json=consent(value), headers=caseworker)
        assert_invalid(r, "body.expires_at")
    # The ends of the range themselves are fine.
    last, first = "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00+00:00"
    assert (await client.get(url, params={"as_of": last}, headers=caseworker)).status_code == 200
    assert (await client.get(url, params={"as_of": first}, headers=caseworker)).status_code == 404
    r = await client.get(f"{url}/history", params={"from": first, "to": last}, headers=auditor)
    assert r.status_code == 200 and len(r.json()["entries"]) == 2
    r = await client.post(f"{url}/consents", json=consent(last), headers=caseworker)
    assert r.status_code == 200, r.text


async def test_referral_service_refuses_times_outside_the_utc_range(
    referral_client: httpx.AsyncClient, pool: asyncpg.Pool, publish: Publish, auth: Token
) -> None:
    req = request(needs=["shelter"])
    await publish(new_case_id(), req)
    rid = referral_id_for(req.referral_id, "shelter")
    await eventually(lambda: referral_events(pool, stream=rid))
    admin = auth("admin")
    url = f"/referrals/{rid}"
    for value in (*OVERFLOWING, NAIVE):
        r = await referral_client.get(url, params={"as_of": value}, headers=admin)
        assert_invalid(r, "query.as_of")
    last = "9999-12-31T23:59:59.999999Z"
    assert (
        await referral_client.get(url, params={"as_of": last}, headers=admin)
    ).status_code == 200
