"""Break the glass against the real case service: outside the scope a case is 404 until a
caseworker or supervisor opens it with a written reason, for a limited time; the grant and
every read are recorded and reported; no renewal while it runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.integration.case.conftest import Token
from tests.integration.case.stories import GIVEN_NAME, open_case

REASON = {"reason": "Brought unconscious to Khorog hospital; her caseworker is unreachable."}
PROBLEM = "application/problem+json"


async def test_a_caseworker_of_another_office_opens_a_case_in_an_emergency(
    client: httpx.AsyncClient, auth: Token
) -> None:
    owner = auth("caseworker")  # Khujand office, Sughd
    case_id = await open_case(client, owner)
    khorog = auth("caseworker", sub="cw-khorog", office="khorog", region="gbao")
    assert (await client.get(f"/cases/{case_id}", headers=khorog)).status_code == 404

    r = await client.post(f"/cases/{case_id}/break-glass", json=REASON, headers=khorog)
    assert r.status_code == 200, r.text
    expires_at = datetime.fromisoformat(r.json()["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(minutes=60)

    seen = await client.get(f"/cases/{case_id}", headers=khorog)
    assert seen.status_code == 200 and GIVEN_NAME in seen.text  # identifying, and recorded
    log = await client.get(f"/cases/{case_id}/access-log", headers=auth("auditor"))
    assert log.status_code == 200 and "cw-khorog" in log.text
    # No renewal while it runs.
    again = await client.post(f"/cases/{case_id}/break-glass", json=REASON, headers=khorog)
    assert again.status_code == 409 and again.json()["type"].endswith("emergency_access_active")
    # Writing is not part of it: the case stays out of the Khorog caseworker's write scope.
    note = await client.post(f"/cases/{case_id}/notes", json={"text": "seen"}, headers=khorog)
    assert note.status_code == 404

    # The auditors' report names the grant and the reads made under it, never the reason.
    report = await client.get("/audit/break-glass", headers=auth("auditor"))
    assert report.status_code == 200
    [entry] = [e for e in report.json() if e["case_id"] == case_id]
    assert (entry["who"], entry["role"], entry["owning_office"]) == (
        "cw-khorog",
        "caseworker",
        "khujand-nrm",
    )
    assert entry["identifying_reads"] >= 1
    assert "unconscious" not in report.text
    # The owning region's supervisor sees it; another region's does not.
    sughd = await client.get("/audit/break-glass", headers=auth("supervisor", region="sughd"))
    assert case_id in sughd.text
    gbao = await client.get("/audit/break-glass", headers=auth("supervisor", region="gbao"))
    assert case_id not in gbao.text
    # The case's history has the grant, its reason sealed.
    history = await client.get(f"/cases/{case_id}/history", headers=auth("auditor"))
    assert "EmergencyAccessGranted" in history.text and "unconscious" not in history.text


async def test_who_may_break_the_glass_and_when_it_is_refused(
    client: httpx.AsyncClient, auth: Token
) -> None:
    owner = auth("caseworker")
    case_id = await open_case(client, owner)
    path = f"/cases/{case_id}/break-glass"

    in_scope = await client.post(path, json=REASON, headers=owner)
    assert in_scope.status_code == 409 and in_scope.json()["type"].endswith("in_scope")
    for role in ("auditor", "admin", "provider", "coordinator"):
        assert (await client.post(path, json=REASON, headers=auth(role))).status_code == 403
    khorog = auth("caseworker", sub="cw-khorog", office="khorog", region="gbao")
    short = await client.post(path, json={"reason": "urgent"}, headers=khorog)
    assert short.status_code == 422 and short.headers["content-type"] == PROBLEM
    assert short.json()["errors"][0]["path"] == "body.reason"
    missing = "/cases/0190f5c3-7a2b-7c1d-9e8f-0a1b2c3d4e5f/break-glass"
    assert (await client.post(missing, json=REASON, headers=khorog)).status_code == 404
    # Still nothing recorded: the Khorog caseworker cannot read it.
    assert (await client.get(f"/cases/{case_id}", headers=khorog)).status_code == 404
    # A supervisor of another region may break it too.
    gbao = auth("supervisor", sub="sv-gbao", region="gbao")
    assert (await client.post(path, json=REASON, headers=gbao)).status_code == 200
    assert (await client.get(f"/cases/{case_id}/history", headers=gbao)).status_code == 200
