"""Transfers the receiving side accepts (issue 13 item 7), through the case API: until
accepted the sending office keeps the case; only the receiving side may accept or refuse
(anyone else: 404, other roles: 403); refusals take a reason code; the sender may cancel."""

from __future__ import annotations

import asyncpg
import httpx

from services.case.projections import PROJECTIONS
from shared.eventstore import EventStore
from shared.projections import rebuild
from tests.integration.case.conftest import Token
from tests.integration.case.stories import open_case

SENDER = {"sub": "cw-khujand-1", "office": "khujand-nrm"}
TO = {"to_office": "dushanbe-nrm"}


async def _types(pool: asyncpg.Pool, case_id: str) -> list[str]:
    rows = await pool.fetch(
        'SELECT event_type FROM "case".event WHERE stream_id = $1 ORDER BY stream_version',
        case_id,
    )
    return [r["event_type"].split(".")[3] for r in rows]


async def _request(client: httpx.AsyncClient, h: dict[str, str], case_id: str) -> str:
    r = await client.post(f"/cases/{case_id}/transfer", json=TO, headers=h)
    assert r.status_code == 202, r.text
    return str(r.json()["transfer_id"])


async def test_the_case_moves_only_when_the_receiving_office_accepts(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    sender = auth("caseworker", **SENDER)
    receiver = auth("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm")
    case_id = await open_case(client, sender)
    tid = await _request(client, sender, case_id)
    url = f"/cases/{case_id}"

    # Pending: the sending office keeps it, the receiving office cannot read it yet.
    assert (await client.get(url, headers=sender)).json()["office"] == "khujand-nrm"
    assert (await client.get(url, headers=receiver)).status_code == 404
    # Nobody but the receiving side may accept: not the sender, not another office.
    elsewhere = auth("caseworker", sub="cw-khorog-1", office="khorog-nrm", region="gbao")
    for who in (sender, elsewhere, auth("supervisor", office="khujand-nrm")):
        r = await client.post(f"{url}/transfers/{tid}/accept", headers=who)
        assert r.status_code == 404, r.text
    for role in ("auditor", "provider", "coordinator"):
        r = await client.post(f"{url}/transfers/{tid}/accept", headers=auth(role))
        assert r.status_code == 403, role

    r = await client.post(f"{url}/transfers/{tid}/accept", headers=receiver)
    assert r.status_code == 200, r.text

    view = (await client.get(url, headers=receiver)).json()
    assert (view["office"], view["caseworker"]) == ("dushanbe-nrm", "cw-dushanbe-1")
    assert (await client.get(url, headers=sender)).status_code == 404
    assert (await _types(pool, case_id))[-3:] == [
        "CaseTransferRequested",
        "CaseTransferAccepted",
        "CaseTransferred",
    ]


async def test_a_refusal_keeps_the_case_and_needs_a_reason_code(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    sender = auth("caseworker", **SENDER)
    supervisor = auth("supervisor", sub="sup-dushanbe", office="dushanbe-nrm", region="dushanbe")
    case_id = await open_case(client, sender)
    tid = await _request(client, sender, case_id)
    refuse = f"/cases/{case_id}/transfers/{tid}/refuse"
    before = await _types(pool, case_id)

    r = await client.post(refuse, json={"reason_code": "she is not ours"}, headers=supervisor)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert "body.reason_code" in [e["path"] for e in r.json()["errors"]]
    assert await _types(pool, case_id) == before

    r = await client.post(refuse, json={"reason_code": "no_capacity"}, headers=supervisor)
    assert r.status_code == 200, r.text
    assert (await _types(pool, case_id))[-1] == "CaseTransferRefused"
    view = (await client.get(f"/cases/{case_id}", headers=sender)).json()
    assert (view["office"], view["caseworker"]) == ("khujand-nrm", "cw-khujand-1")
    # Answered: the receiving side has nothing left to act on.
    accept = await client.post(f"/cases/{case_id}/transfers/{tid}/accept", headers=supervisor)
    assert accept.status_code == 404


async def test_one_request_at_a_time_and_the_sender_may_cancel_it(
    client: httpx.AsyncClient, auth: Token
) -> None:
    sender = auth("caseworker", **SENDER)
    case_id = await open_case(client, sender)
    tid = await _request(client, sender, case_id)

    again = await client.post(f"/cases/{case_id}/transfer", json=TO, headers=sender)
    assert again.status_code == 409 and again.json()["type"].endswith("/transfer_pending")
    # The sender's case view names the request waiting, so it can be cancelled later.
    pending = (await client.get(f"/cases/{case_id}", headers=sender)).json()["pending_transfer"]
    assert (pending["transfer_id"], pending["to_office"], pending["expired"]) == (
        tid,
        "dushanbe-nrm",
        False,
    )
    assert pending["expires_at"] is not None
    receiver = auth("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm")
    cancel = f"/cases/{case_id}/transfers/{tid}/cancel"
    assert (await client.post(cancel, headers=receiver)).status_code == 404  # not the sender's
    assert (await client.post(cancel, headers=sender)).status_code == 200
    after = (await client.get(f"/cases/{case_id}", headers=sender)).json()
    assert after["pending_transfer"] is None

    accept = await client.post(f"/cases/{case_id}/transfers/{tid}/accept", headers=receiver)
    assert accept.status_code == 404
    assert await _request(client, sender, case_id) != tid


async def test_the_receiving_side_finds_what_waits_for_it_and_replay_rebuilds_it(
    client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    sender = auth("caseworker", **SENDER)
    office_wide, named, answered = [await open_case(client, sender) for _ in range(3)]
    tids = {office_wide: await _request(client, sender, office_wide)}
    r = await client.post(
        f"/cases/{named}/transfer",
        json={"to_caseworker": "cw-named", "to_office": "dushanbe-nrm"},
        headers=sender,
    )
    tids[named] = r.json()["transfer_id"]
    gone = await _request(client, sender, answered)
    await client.post(f"/cases/{answered}/transfers/{gone}/cancel", headers=sender)

    def listed(r: httpx.Response) -> set[tuple[str, str]]:
        assert r.status_code == 200, r.text
        return {(t["case_id"], t["transfer_id"]) for t in r.json()}

    office = auth("caseworker", sub="cw-dushanbe-1", office="dushanbe-nrm")
    chief = auth("supervisor", sub="sup-dushanbe", office="dushanbe-nrm", region="dushanbe")
    who = auth("caseworker", sub="cw-named", office="elsewhere-nrm")
    get = "/transfers/incoming"
    assert listed(await client.get(get, headers=office)) == {(office_wide, tids[office_wide])}
    assert listed(await client.get(get, headers=chief)) == set(tids.items())
    assert listed(await client.get(get, headers=who)) == {(named, tids[named])}
    assert listed(await client.get(get, headers=sender)) == set()
    assert (await client.get(get, headers=auth("auditor"))).status_code == 403
    # Everything listed can be accepted by who sees it, and then it is gone from the list.
    r = await client.post(f"/cases/{named}/transfers/{tids[named]}/accept", headers=who)
    assert r.status_code == 200, r.text
    assert listed(await client.get(get, headers=chief)) == {(office_wide, tids[office_wide])}

    query = 'SELECT * FROM "case".transfer_request ORDER BY case_id'
    live = [dict(r) for r in await pool.fetch(query)]
    await rebuild(EventStore(pool, "case"), PROJECTIONS["transfer_request"], fresh=True)
    assert [dict(r) for r in await pool.fetch(query)] == live
