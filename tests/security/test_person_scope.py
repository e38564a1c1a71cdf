"""Who can see and decide what about the person across cases (issue 14), written first:
possible duplicates name other cases by id and score only; the duplicates queue and its
decisions are the supervisors' of a region holding one case of the pair; family links need
both cases in scope; blind keys hold nothing readable, the index key is never logged,
and erasure takes the keys away."""

from __future__ import annotations

import base64
import io
import logging
from typing import Any

import asyncpg
import httpx
import pytest

from services.case.app.duplicates import index_key_from
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case, profile

# Office A (Khujand, Sughd) registered her in Cyrillic; office B (Khorog, GBAO) in Latin.
CYRILLIC = {"given_name": "Зарина", "family_name": "Қодирова", "date_of_birth": "1996-04-11"}
LATIN = {"given_name": "Zarinah", "family_name": "Kodirova", "date_of_birth": "1996-04-11"}
NAMES = ("Зарина", "Қодирова", "Zarinah", "Kodirova", "1996-04-11", "zrn", "kdrv")
GBAO = {"region": "gbao", "district": "khorog"}


def cw_a(auth: Token) -> dict[str, str]:
    return auth("caseworker", sub="cw-khujand", office="khujand-nrm", region="sughd")


def cw_b(auth: Token) -> dict[str, str]:
    return auth("caseworker", sub="cw-khorog", office="khorog-rcst", region="gbao")


async def two_offices(client: httpx.AsyncClient, auth: Token) -> tuple[str, httpx.Response]:
    """Office A opens the case; office B opens the same person. B's answer is returned."""
    a = await open_case(client, cw_a(auth), intake(**CYRILLIC))
    r = await client.post("/cases", json=intake(**LATIN, **GBAO), headers=cw_b(auth))
    assert r.status_code == 201, r.text
    return a, r


async def count_events(pool: asyncpg.Pool, stream: str | None = None) -> int:
    if stream is None:
        return int(await pool.fetchval('SELECT count(*) FROM "case".event'))
    q = 'SELECT count(*) FROM "case".event WHERE stream_id = $1'
    return int(await pool.fetchval(q, stream))


async def test_intake_names_a_duplicate_in_another_office_by_id_and_score_only(
    client: httpx.AsyncClient, auth: Token
) -> None:
    a, r = await two_offices(client, auth)
    assert r.json()["possible_duplicates"] == [{"case_id": a, "score": 0.9, "in_scope": False}]
    for value in NAMES[:2]:
        assert value not in r.text  # nothing of the other case's person
    # Office B still cannot read office A's case.
    assert (await client.get(f"/cases/{a}", headers=cw_b(auth))).status_code == 404


async def test_a_duplicate_in_the_callers_own_office_is_marked_in_scope(
    client: httpx.AsyncClient, auth: Token
) -> None:
    a = await open_case(client, cw_a(auth), intake(**CYRILLIC))
    r = await client.post("/cases", json=intake(**LATIN), headers=cw_a(auth))
    assert r.json()["possible_duplicates"] == [{"case_id": a, "score": 0.9, "in_scope": True}]


async def test_the_same_common_name_with_another_birth_year_is_not_a_duplicate(
    client: httpx.AsyncClient, auth: Token
) -> None:
    await open_case(client, cw_a(auth), intake(**CYRILLIC))
    other = {**LATIN, "date_of_birth": "1971-04-11"}
    r = await client.post("/cases", json=intake(**other, **GBAO), headers=cw_b(auth))
    assert r.json()["possible_duplicates"] == []


async def test_a_profile_update_names_duplicates_by_id_and_score_only(
    client: httpx.AsyncClient, auth: Token
) -> None:
    # Office B first registered someone else, then corrects the profile to her.
    a = await open_case(client, cw_a(auth), intake(**CYRILLIC))
    first = {**LATIN, "given_name": "Nodira", "family_name": "Saidova", **GBAO}
    b = await open_case(client, cw_b(auth), intake(**first))
    r = await client.put(f"/cases/{b}/profile", json=profile(**LATIN, **GBAO), headers=cw_b(auth))
    assert r.status_code == 200, r.text
    assert r.json()["possible_duplicates"] == [{"case_id": a, "score": 0.9, "in_scope": False}]
    for value in NAMES[:2]:
        assert value not in r.text
    assert (await client.get(f"/cases/{a}", headers=cw_b(auth))).status_code == 404
    # Office A's own update sees B's case, out of its scope too; the pair is one pair.
    r = await client.put(f"/cases/{a}/profile", json=profile(**CYRILLIC), headers=cw_a(auth))
    assert r.json()["possible_duplicates"] == [{"case_id": b, "score": 0.9, "in_scope": False}]
    page = await client.get("/duplicates", headers=auth("supervisor", region="gbao"))
    assert [{i["a"]["case_id"], i["b"]["case_id"]} for i in page.json()["items"]] == [{a, b}]


async def test_a_profile_update_marks_a_duplicate_in_the_callers_office_in_scope(
    client: httpx.AsyncClient, auth: Token
) -> None:
    a = await open_case(client, cw_a(auth), intake(**CYRILLIC))
    b = await open_case(client, cw_a(auth), intake(**{**LATIN, "date_of_birth": "1971-04-11"}))
    r = await client.put(f"/cases/{b}/profile", json=profile(**LATIN), headers=cw_a(auth))
    assert r.json()["possible_duplicates"] == [{"case_id": a, "score": 0.9, "in_scope": True}]
    # Another caseworker of the office cannot write the case at all (no answer to read).
    other = auth("caseworker", sub="cw-other", office="khorog-rcst", region="gbao")
    r = await client.put(f"/cases/{b}/profile", json=profile(**LATIN), headers=other)
    assert r.status_code == 404 and "possible_duplicates" not in r.text


@pytest.mark.parametrize(
    "who",
    [
        {"role": "caseworker"},
        {"role": "auditor"},
        {"role": "admin"},
        {"role": "provider"},
    ],
)
async def test_only_supervisors_see_the_duplicates_queue(
    client: httpx.AsyncClient, auth: Token, who: dict[str, Any]
) -> None:
    await two_offices(client, auth)
    r = await client.get("/duplicates", headers=auth(**who))
    assert r.status_code == 403
    pair = {
        "case_a": "0190a0c4-0000-7000-8000-000000000001",
        "case_b": "0190a0c4-0000-7000-8000-000000000002",
    }
    for action in ("link", "unlink", "dismiss", "reopen"):
        assert (
            await client.post(f"/duplicates/{action}", json=pair, headers=auth(**who))
        ).status_code == 403


async def test_a_supervisor_sees_pairs_touching_their_region_and_no_identifying_field(
    client: httpx.AsyncClient, auth: Token
) -> None:
    a, r = await two_offices(client, auth)
    b = r.json()["id"]
    for region in ("sughd", "gbao"):
        page = await client.get("/duplicates", headers=auth("supervisor", region=region))
        assert page.status_code == 200
        [item] = page.json()["items"]
        assert {item["a"]["case_id"], item["b"]["case_id"]} == {a, b}
        assert item["score"] == 0.9 and item["status"] == "pending"
        assert not any(v in page.text for v in NAMES)
    for outsider in (auth("supervisor", region="khatlon"), auth("supervisor", region=None)):
        page = await client.get("/duplicates", headers=outsider)
        assert page.status_code == 200 and page.json()["items"] == []


async def test_the_duplicates_queue_pages_with_a_cursor_that_opens_nothing_else(
    client: httpx.AsyncClient, auth: Token
) -> None:
    pairs = []
    people = (("Zarina", "1996-04-11"), ("Madina", "1990-02-03"), ("Nigora", "1985-09-30"))
    for given, born in people:
        a = await open_case(client, cw_a(auth), intake(given_name=given, date_of_birth=born))
        b = await open_case(
            client, cw_b(auth), intake(given_name=given, date_of_birth=born, **GBAO)
        )
        pairs.append({a, b})
    sughd = auth("supervisor", region="sughd")
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 1} if cursor is None else {"limit": 1, "cursor": cursor}
        page = (await client.get("/duplicates", params=params, headers=sughd)).json()
        seen += [{i["a"]["case_id"], i["b"]["case_id"]} for i in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # Someone else's cursor shows them nothing of a region they do not hold.
        other = {"limit": 1, "cursor": cursor}
        outsider = await client.get(
            "/duplicates", params=other, headers=auth("supervisor", region="khatlon")
        )
        assert outsider.status_code == 200 and outsider.json()["items"] == []
    assert pages == 3 and sorted(map(sorted, seen)) == sorted(map(sorted, pairs))
    whole = (await client.get("/duplicates", headers=sughd)).json()
    assert whole["next_cursor"] is None and len(whole["items"]) == 3


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WyJ4IiwgMSwgMl0", "e30", "x" * 201])
async def test_a_forged_duplicates_cursor_is_422_with_its_path_and_not_echoed(
    client: httpx.AsyncClient, auth: Token, cursor: str
) -> None:
    r = await client.get("/duplicates", params={"cursor": cursor}, headers=auth("supervisor"))
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["path"] for e in r.json()["errors"]] == ["query.cursor"]
    assert cursor not in r.text


async def test_a_supervisor_of_neither_region_cannot_decide_the_pair(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    a, r = await two_offices(client, auth)
    before = await count_events(pool)
    pair = {"case_a": a, "case_b": r.json()["id"]}
    unknown = {"case_a": a, "case_b": "0190a0c4-0000-7000-8000-00000000abcd"}
    outsider = auth("supervisor", region="khatlon")
    refused = await client.post("/duplicates/link", json=pair, headers=outsider)
    missing = await client.post("/duplicates/link", json=unknown, headers=auth("supervisor"))
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"] == missing.json()["detail"]
    assert await count_events(pool) == before


async def test_linking_shows_each_case_the_other_and_is_reversible(
    client: httpx.AsyncClient, auth: Token
) -> None:
    a, r = await two_offices(client, auth)
    b = r.json()["id"]
    sup = auth("supervisor", region="sughd")
    linked = await client.post("/duplicates/link", json={"case_a": a, "case_b": b}, headers=sup)
    assert linked.status_code == 200, linked.text
    view_a = (await client.get(f"/cases/{a}", headers=cw_a(auth))).json()
    view_b = (await client.get(f"/cases/{b}", headers=cw_b(auth))).json()
    assert view_a["same_person_cases"] == [b] and view_b["same_person_cases"] == [a]
    for case_id in (a, b):
        history = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
        assert history.status_code == 200 and "SamePersonLinked" in history.text
    assert (await client.get("/duplicates", headers=sup)).json()["items"] == []
    listed = await client.get("/duplicates", params={"status": "linked"}, headers=sup)
    assert listed.json()["items"][0]["decided_by"] == "supervisor-1"

    again = await client.post("/duplicates/link", json={"case_a": b, "case_b": a}, headers=sup)
    assert again.status_code == 409
    undone = await client.post("/duplicates/unlink", json={"case_a": a, "case_b": b}, headers=sup)
    assert undone.status_code == 200
    assert (await client.get(f"/cases/{a}", headers=cw_a(auth))).json()["same_person_cases"] == []
    assert len((await client.get("/duplicates", headers=sup)).json()["items"]) == 1

    dismissed = await client.post(
        "/duplicates/dismiss", json={"case_a": a, "case_b": b}, headers=sup
    )
    assert dismissed.status_code == 200
    assert (await client.get("/duplicates", headers=sup)).json()["items"] == []
    reopened = await client.post("/duplicates/reopen", json={"case_a": a, "case_b": b}, headers=sup)
    assert reopened.status_code == 200
    assert len((await client.get("/duplicates", headers=sup)).json()["items"]) == 1


async def test_a_family_link_needs_both_cases_in_the_callers_scope(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    mine = await open_case(client, cw_a(auth))
    theirs = await open_case(client, cw_b(auth), intake(**LATIN, **GBAO))
    before = await count_events(pool)
    body = {"other_case_id": theirs, "relation": "child"}
    refused = await client.post(f"/cases/{mine}/family-links", json=body, headers=cw_a(auth))
    unknown = {"other_case_id": "0190a0c4-0000-7000-8000-00000000abcd", "relation": "child"}
    missing = await client.post(f"/cases/{mine}/family-links", json=unknown, headers=cw_a(auth))
    assert refused.status_code == missing.status_code == 404
    assert refused.json()["detail"] == missing.json()["detail"]
    assert await count_events(pool) == before

    # Both cases in the caseworker's office: linked, and each side shows the other.
    child = await open_case(client, cw_a(auth))
    ok = await client.post(
        f"/cases/{mine}/family-links",
        json={"other_case_id": child, "relation": "child"},
        headers=cw_a(auth),
    )
    assert ok.status_code == 200, ok.text
    view = (await client.get(f"/cases/{child}", headers=cw_a(auth))).json()
    assert view["family_links"] == [{"case_id": mine, "relation": "parent"}]
    itself = await client.post(
        f"/cases/{mine}/family-links",
        json={"other_case_id": mine, "relation": "child"},
        headers=cw_a(auth),
    )
    assert itself.status_code == 422


async def test_blind_keys_hold_nothing_readable_and_go_with_erasure(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool, settings: Settings
) -> None:
    a, r = await two_offices(client, auth)
    rows = await pool.fetch('SELECT case_id, kind, key FROM "case".person_key')
    assert {row["case_id"] for row in rows} == {a, r.json()["id"]}
    raw = b"".join(bytes(row["key"]) for row in rows)
    for value in NAMES:
        assert value.encode() not in raw and value.lower().encode() not in raw

    erased = await client.post(
        f"/cases/{a}/erase", json={"reason_code": "survivor_request"}, headers=auth("admin")
    )
    assert erased.status_code == 200, erased.text
    left = await pool.fetch('SELECT case_id FROM "case".person_key WHERE case_id = $1', a)
    assert left == []
    assert (await client.get("/duplicates", headers=auth("supervisor"))).json()["items"] == []
    again = await client.post("/cases", json=intake(**CYRILLIC), headers=cw_a(auth))
    assert a not in again.text  # the erased person is not found any more


async def test_the_index_key_and_identity_keys_are_never_logged(
    client: httpx.AsyncClient, auth: Token, settings: Settings
) -> None:
    root = logging.getLogger()
    sink = io.StringIO()
    handler = logging.StreamHandler(sink)
    handler.setFormatter(root.handlers[0].formatter)
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        _, r = await two_offices(client, auth)
        b = r.json()["id"]
        await client.get("/duplicates", headers=auth("supervisor"))
        # A profile update that finds the pair, and a supervisor paging the queue.
        await client.put(f"/cases/{b}/profile", json=profile(**LATIN, **GBAO), headers=cw_b(auth))
        page = await client.get("/duplicates", params={"limit": 1}, headers=auth("supervisor"))
        assert page.status_code == 200
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    text = sink.getvalue()
    assert '"route": "/cases"' in text  # the capture did capture
    key = index_key_from(settings)
    for secret in (*NAMES, key.hex(), base64.b64encode(key).decode()):
        assert secret not in text
