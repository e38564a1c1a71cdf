"""Who may see a case is decided on the case as it stands now: never on a past state read
with ``as_of``, and never leaked by the audit routes (an out-of-scope case reads as 404,
exactly like one that does not exist)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx

from shared.problems import PROBLEM_MEDIA_TYPE
from tests.integration.case.conftest import Token
from tests.integration.case.stories import FAMILY_NAME, GIVEN_NAME, open_case, profile

OLD_OFFICE, NEW_OFFICE = "khujand-nrm", "dushanbe-nrm"


def assert_not_found(r: httpx.Response) -> None:
    assert r.status_code == 404, r.text
    assert r.headers["content-type"].startswith(PROBLEM_MEDIA_TYPE)
    assert GIVEN_NAME not in r.text and FAMILY_NAME not in r.text


async def reads_by(client: httpx.AsyncClient, auth: Token, case_id: str) -> list[str]:
    r = await client.get(f"/cases/{case_id}/access-log", headers=auth("admin"))
    assert r.status_code == 200, r.text
    return [x["who"] for x in r.json()["reads"]]


async def test_as_of_does_not_show_a_case_transferred_to_another_office(
    client: httpx.AsyncClient, auth: Token
) -> None:
    opener = auth("caseworker", sub="cw-khujand-1", office=OLD_OFFICE)
    colleague = auth("caseworker", sub="cw-khujand-2", office=OLD_OFFICE)
    case_id = await open_case(client, opener)
    url = f"/cases/{case_id}"
    assert (await client.get(url, headers=colleague)).status_code == 200  # same office
    before_transfer = datetime.now(UTC).isoformat()

    r = await client.post(
        f"{url}/transfer",
        json={"to_office": NEW_OFFICE, "to_caseworker": "cw-dushanbe-1"},
        headers=auth("supervisor"),
    )
    assert r.status_code == 202, r.text
    # Until the receiving side accepts, the old office keeps the case.
    assert (await client.get(url, headers=colleague)).status_code == 200
    new = auth("caseworker", sub="cw-dushanbe-1", office=NEW_OFFICE)
    r = await client.post(f"{url}/transfers/{r.json()['transfer_id']}/accept", headers=new)
    assert r.status_code == 200, r.text

    # The old office has lost the case, now and in the past alike.
    for old in (opener, colleague):
        assert_not_found(await client.get(url, headers=old))
        assert_not_found(await client.get(url, params={"as_of": before_transfer}, headers=old))
    # The new office reads the case as it was before it arrived there.
    then = await client.get(url, params={"as_of": before_transfer}, headers=new)
    assert then.status_code == 200, then.text
    assert then.json()["office"] == OLD_OFFICE and GIVEN_NAME in then.text
    # Refused reads record nothing; the new caseworker's read is recorded.
    reads = ["cw-khujand-2", "cw-khujand-2", "cw-dushanbe-1"]
    assert await reads_by(client, auth, case_id) == reads


async def test_as_of_does_not_show_a_case_moved_to_another_region(
    client: httpx.AsyncClient, auth: Token
) -> None:
    caseworker = auth("caseworker", sub="cw-1")
    case_id = await open_case(client, caseworker)
    url = f"/cases/{case_id}"
    before_move = datetime.now(UTC).isoformat()
    moved = profile(region="khatlon", district="bokhtar")
    assert (await client.put(f"{url}/profile", json=moved, headers=caseworker)).status_code == 200

    sughd = auth("supervisor", sub="sup-sughd", region="sughd")
    assert_not_found(await client.get(url, headers=sughd))
    assert_not_found(await client.get(url, params={"as_of": before_move}, headers=sughd))
    # The history routes decide on the case as it is now, too.
    for route in ("history", "access-log"):
        for who in (sughd, auth("auditor", region="sughd")):
            assert_not_found(await client.get(f"{url}/{route}", headers=who))
    khatlon = auth("supervisor", sub="sup-khatlon", region="khatlon")
    then = await client.get(url, params={"as_of": before_move}, headers=khatlon)
    assert then.status_code == 200 and then.json()["region"] == "sughd"


async def test_audit_verify_does_not_reveal_a_case_outside_scope(
    client: httpx.AsyncClient, auth: Token
) -> None:
    case_id = await open_case(client, auth("caseworker"))  # in sughd
    nowhere = str(uuid.uuid4())
    khatlon = auth("auditor", sub="aud-khatlon", region="khatlon")

    async def verify(stream: str, headers: dict[str, str]) -> httpx.Response:
        return await client.get("/audit/verify", params={"case": stream}, headers=headers)

    outside = await verify(case_id, khatlon)
    missing = await verify(nowhere, khatlon)
    assert_not_found(outside)
    assert_not_found(missing)
    assert outside.json() == missing.json()  # indistinguishable
    # Its access stream is the same case.
    assert (await verify(f"access-{case_id}", khatlon)).json() == missing.json()

    # In scope (or unscoped), the case's chain is verified.
    for who in (auth("auditor", region="sughd"), auth("auditor"), auth("admin")):
        r = await verify(case_id, who)
        assert r.status_code == 200, r.text
        assert r.json()["ok"] and r.json()["events"] >= 2
    # No one learns anything from an id that does not exist.
    assert_not_found(await verify(nowhere, auth("admin")))
    # The whole-store verification is unchanged.
    assert (await client.get("/audit/verify", headers=khatlon)).json()["ok"]
