"""Languages and interpreters through the case API (issue 13 item 8): the new languages and
the interpreter flag are recorded and reach the referral request; ``other`` takes a label,
sealed like other free text; unknown languages and stray labels are refused with the field
path and nothing appended."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.case.conftest import Token
from tests.integration.case.stories import give_referral_consent, intake, open_case

LABEL = "Shughni-Testlabel"


async def events(pool: asyncpg.Pool, case_id: str) -> list[tuple[str, dict[str, Any]]]:
    rows = await pool.fetch(
        'SELECT event_type, data FROM "case".event WHERE stream_id = $1 ORDER BY stream_version',
        case_id,
    )
    return [(r["event_type"], json.loads(r["data"])) for r in rows]


async def test_an_uzbek_speaker_needing_an_interpreter_reaches_the_referral_request(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    h = auth()
    case_id = await open_case(client, h, intake(language="uz", interpreter_needed=True))
    await give_referral_consent(client, h, case_id)
    r = await client.post(
        f"/cases/{case_id}/referrals", json={"needs": ["shelter"], "urgency": "urgent"}, headers=h
    )
    assert r.status_code == 202, r.text

    profile = (await client.get(f"/cases/{case_id}", headers=h)).json()["profile"]
    assert profile["language"] == "uz" and profile["interpreter_needed"] is True
    stored = dict(await events(pool, case_id))
    assert stored["org.safepath.case.SurvivorProfileRecorded.v3"]["profile"]["interpreter_needed"]
    request = stored["org.safepath.case.ReferralRequested.v3"]
    assert request["language"] == "uz" and request["interpreter_needed"] is True


async def test_another_language_keeps_its_label_sealed(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    case_id = await open_case(client, auth(), intake(language="other", language_label=LABEL))

    profile = (await client.get(f"/cases/{case_id}", headers=auth())).json()["profile"]
    assert profile["language"] == "other"
    assert profile["identifying"]["language_label"] == LABEL
    assert LABEL not in json.dumps(await events(pool, case_id))


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ({"language": "de"}, "body.profile.language"),
        ({"language": "other"}, "body.profile.language_label"),
        ({"language": "tg", "language_label": LABEL}, "body.profile.language_label"),
        ({"interpreter_needed": "perhaps"}, "body.profile.interpreter_needed"),
    ],
    ids=["unknown language", "other without label", "label without other", "flag not a bool"],
)
async def test_bad_languages_are_refused_with_the_field_path_and_nothing_is_appended(
    client: httpx.AsyncClient,
    auth: Token,
    pool: asyncpg.Pool,
    change: dict[str, Any],
    path: str,
) -> None:
    r = await client.post("/cases", json=intake(**change), headers=auth())

    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert path in [e["path"] for e in r.json()["errors"]], r.json()["errors"]
    assert LABEL not in r.text
    assert await pool.fetchval('SELECT count(*) FROM "case".event') == 0
