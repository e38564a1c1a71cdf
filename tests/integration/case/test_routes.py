"""The happy path of every route: a survivor's case from intake to transfer."""

from __future__ import annotations

import httpx

from tests.integration.case.conftest import Token
from tests.integration.case.stories import (
    GIVEN_NAME,
    give_referral_consent,
    intake,
    open_case,
    profile,
    transfer,
)


async def test_intake_answers_201_with_location_etag_id_and_version(
    client: httpx.AsyncClient, auth: Token
) -> None:
    r = await client.post("/cases", json=intake(), headers=auth())
    assert r.status_code == 201
    body = r.json()
    assert body["version"] == 2  # CaseOpened + SurvivorProfileRecorded
    assert r.headers["Location"] == f"/cases/{body['id']}"
    assert r.headers["ETag"] == '"2"'


async def test_a_case_opened_without_profile_takes_one_later(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth()
    case_id = await open_case(client, h, {"region": "sughd", "categories": ["trafficking"]})
    r = await client.put(f"/cases/{case_id}/profile", json=profile(), headers=h)
    assert r.status_code == 200
    assert r.json() == {"id": case_id, "version": 2, "possible_duplicates": []}
    assert r.headers["ETag"] == '"2"'
    # The same profile again changes nothing; a changed one is an update.
    again = await client.put(f"/cases/{case_id}/profile", json=profile(), headers=h)
    assert again.json()["version"] == 2
    moved = await client.put(
        f"/cases/{case_id}/profile", json=profile(district="asht", disability=True), headers=h
    )
    assert moved.json()["version"] == 3
    view = (await client.get(f"/cases/{case_id}", headers=h)).json()
    assert view["district"] == "asht" and view["profile"]["disability"] is True
    assert view["profile"]["identifying"]["given_name"] == GIVEN_NAME


async def test_every_step_of_a_case_shows_in_the_case_view(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    base = f"/cases/{case_id}"

    needs = await client.post(
        f"{base}/needs", json={"needs": ["shelter", "medical"], "note": "needs a doctor"}, headers=h
    )
    assert needs.status_code == 200 and needs.json()["version"] == 3
    ident = await client.post(
        f"{base}/identification",
        json={"status": "presumed", "basis": "indicators_present", "deciding_agency": "ngo"},
        headers=h,
    )
    assert ident.status_code == 200
    consent_id = await give_referral_consent(client, h, case_id)
    referral = await client.post(
        f"{base}/referrals", json={"needs": ["shelter"], "urgency": "urgent"}, headers=h
    )
    assert referral.status_code == 202
    referral_id = referral.json()["referral_id"]
    note = await client.post(f"{base}/notes", json={"text": "Called back at 10:00"}, headers=h)
    assert note.status_code == 200
    withdraw = await client.post(
        f"{base}/consents/{consent_id}/withdraw",
        json={"reason_code": "survivor_request"},
        headers=h,
    )
    assert withdraw.status_code == 200

    r = await client.get(base, headers=h)
    assert r.status_code == 200
    view = r.json()
    assert r.headers["ETag"] == f'"{view["version"]}"' == f'"{withdraw.json()["version"]}"'
    assert view["needs"]["needs"] == ["shelter", "medical"]
    assert view["needs"]["note"] == "needs a doctor"
    assert view["identification"]["status"] == "presumed"
    assert [(c["consent_id"], c["status"]) for c in view["consents"]] == [(consent_id, "withdrawn")]
    assert [(x["referral_id"], x["status"], x["needs"]) for x in view["referrals"]] == [
        (referral_id, "requested", ["shelter"])
    ]
    assert view["notes"][0]["note_id"] == note.json()["note_id"]
    assert view["notes"][0]["text"] == "Called back at 10:00"
    assert view["notes"][0]["added_by"] == "caseworker:caseworker-1"


async def test_close_reopen_and_transfer(client: httpx.AsyncClient, auth: Token) -> None:
    h = auth()
    case_id = await open_case(client, h)
    base = f"/cases/{case_id}"
    closed = await client.post(f"{base}/close", json={"reason": "services_completed"}, headers=h)
    assert closed.status_code == 200
    refused = await client.post(f"{base}/notes", json={"text": "too late"}, headers=h)
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/case_closed")
    reopened = await client.post(f"{base}/reopen", json={"reason": "new_needs"}, headers=h)
    assert reopened.status_code == 200
    body = {"to_caseworker": "cw-farrukh", "to_office": "asht-nrm"}
    await transfer(client, h, auth(sub="cw-farrukh", office="asht-nrm"), case_id, body)
    view = (await client.get(base, headers=auth("supervisor"))).json()
    assert (view["status"], view["caseworker"], view["office"]) == (
        "open",
        "cw-farrukh",
        "asht-nrm",
    )
    # The case left the first caseworker's office: for them it no longer exists.
    assert (await client.get(base, headers=h)).status_code == 404
    assert (await client.get(base, headers=auth(sub="cw-farrukh", office="asht-nrm"))).is_success


async def test_an_emergency_referral_without_consent_needs_a_reason(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    url = f"/cases/{case_id}/referrals"
    no_consent = await client.post(url, json={"needs": ["shelter"], "urgency": "urgent"}, headers=h)
    assert no_consent.status_code == 409
    assert no_consent.json()["type"].endswith("/consent_required")
    no_reason = await client.post(
        url, json={"needs": ["shelter"], "urgency": "emergency"}, headers=h
    )
    assert no_reason.json()["type"].endswith("/emergency_reason_required")
    ok = await client.post(
        url,
        json={"needs": ["shelter"], "urgency": "emergency", "emergency_reason": "in danger now"},
        headers=h,
    )
    assert ok.status_code == 202
    view = (await client.get(f"/cases/{case_id}", headers=h)).json()
    assert view["referrals"][0]["emergency_without_consent"] is True
    assert view["referrals"][0]["emergency_reason"] == "in danger now"


async def test_the_list_shows_routing_fields_only_and_pages(
    client: httpx.AsyncClient, auth: Token
) -> None:
    h = auth()
    ids = [await open_case(client, h) for _ in range(3)]
    mine = await open_case(
        client, h, intake(region="sughd", district="asht", categories=["mine_eo"])
    )
    await client.post(f"/cases/{ids[0]}/close", json={"reason": "duplicate"}, headers=h)

    first = await client.get("/cases", params={"limit": 2}, headers=h)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["items"]] == [mine, ids[2]]  # newest first
    second = await client.get(
        "/cases", params={"limit": 2, "cursor": page["next_cursor"]}, headers=h
    )
    assert [c["id"] for c in second.json()["items"]] == [ids[1], ids[0]]
    assert second.json()["next_cursor"] is None
    assert GIVEN_NAME not in first.text + second.text

    async def listed(**params: str) -> list[str]:
        r = await client.get("/cases", params=params, headers=h)
        return [c["id"] for c in r.json()["items"]]

    assert await listed(status="closed") == [ids[0]]
    assert await listed(category="mine_eo") == [mine]
    assert await listed(region="khatlon") == []
    assert len(await listed(region="sughd", status="open")) == 3
