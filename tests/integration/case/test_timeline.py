"""The case's history: its own events (written with their append), the referral and notify
events it consumes (once, however often delivered), filters, exports, and recorded reads."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Callable

import asyncpg
import httpx
from nats.js import JetStreamContext

from shared.events.notify import NotificationDelivered, NotificationQueued
from shared.events.referral import ReferralDeclined
from tests.integration.case.stories import GIVEN_NAME, SECRETS, give_referral_consent, open_case
from tests.integration.notify.stories import (
    OTHER_PROVIDER,
    PROVIDER,
    envelope,
    eventually,
    publish,
    routed,
)

Auth = Callable[..., dict[str, str]]
HISTORY = "GET /cases/{case_id}/history"


def names(entries: list[dict]) -> list[str]:  # type: ignore[type-arg]
    return [e["type"].split(".")[3] for e in entries]


async def _referral(client: httpx.AsyncClient, h: dict[str, str], case_id: str) -> str:
    await give_referral_consent(client, h, case_id)
    r = await client.post(
        f"/cases/{case_id}/referrals", json={"needs": ["shelter"], "urgency": "urgent"}, headers=h
    )
    assert r.status_code == 202, r.text
    return str(r.json()["referral_id"])


async def test_own_events_are_in_the_timeline_with_their_append(
    client: httpx.AsyncClient, auth: Auth, pool: asyncpg.Pool
) -> None:
    # Given a case with a note, read once (a read is an access record, not history)
    h = auth("caseworker")
    case_id = await open_case(client, h)
    r = await client.post(f"/cases/{case_id}/notes", json={"text": "called back"}, headers=h)
    assert r.status_code == 200, r.text
    await client.get(f"/cases/{case_id}", headers=h)
    # Then the timeline holds exactly the case stream's events, in order
    stored = await pool.fetch(
        'SELECT event_id FROM "case".event WHERE stream_id = $1 ORDER BY stream_version', case_id
    )
    timeline = await pool.fetch(
        'SELECT event_id, service FROM "case".case_timeline WHERE case_id = $1 ORDER BY seq',
        case_id,
    )
    assert [r["event_id"] for r in timeline] == [r["event_id"] for r in stored]
    assert {r["service"] for r in timeline} == {"case"}
    assert not await pool.fetchval(
        """SELECT count(*) FROM "case".case_timeline WHERE stream_id LIKE 'access-%'"""
    )


async def test_decline_then_reroute_and_notifications_show_once(
    client: httpx.AsyncClient, auth: Auth, js: JetStreamContext, namespace: str
) -> None:
    # Given a referral routed (delivered twice), declined, routed again, and a notification
    h = auth("caseworker")
    case_id = await open_case(client, h)
    request_id = await _referral(client, h, case_id)
    rid = str(uuid.uuid4())
    first = routed(rid, case_id=case_id, request_id=request_id, region="sughd", district="khujand")
    env = envelope(first, rid)
    await publish(js, namespace, env)
    await publish(js, namespace, env, msg_id=f"again-{env.id}")  # past JetStream's dedupe
    declined = ReferralDeclined(
        referral_id=rid, case_id=case_id, provider_id=PROVIDER, reason_code="no_capacity"
    )
    await publish(js, namespace, envelope(declined, rid, version=2))
    second = first.model_copy(update={"provider_id": OTHER_PROVIDER, "attempt": 2})
    await publish(js, namespace, envelope(second, rid, version=3))
    nid = str(uuid.uuid4())
    queued = NotificationQueued(
        notification_id=nid,
        referral_id=rid,
        case_id=case_id,
        recipient_kind="provider",
        recipient_id=OTHER_PROVIDER,
        channels=("nats",),
        template="new_referral",
        language="tg",
        notification={"kind": "opaque"},
    )
    await publish(js, namespace, envelope(queued, nid))
    delivered = NotificationDelivered(notification_id=nid, channel="nats", attempt=1)
    await publish(js, namespace, envelope(delivered, nid, version=2))

    a = auth("auditor")

    async def history() -> list[dict]:  # type: ignore[type-arg]
        r = await client.get(f"/cases/{case_id}/history", headers=a)
        return list(r.json()["entries"])

    # Then the history shows each event once, the notification's payload left out
    # (the referral and notify streams have consumers of their own: wait for both)
    def both(es: list[dict]) -> bool:  # type: ignore[type-arg]
        return "NotificationDelivered" in names(es) and names(es).count("ReferralRouted") >= 2

    hist = await eventually(history, both)
    got = names(hist)
    assert got.count("ReferralRouted") == 2 and got.count("ReferralDeclined") == 1
    assert got.count("NotificationQueued") == 1 and {e["service"] for e in hist} == {
        "case",
        "referral",
        "notify",
    }
    assert all("notification" not in e["data"] for e in hist if e["service"] == "notify")
    # And the case shows the referral routed again, to the second provider
    view = (await client.get(f"/cases/{case_id}", headers=h)).json()["referrals"][0]
    assert view["status"] == "routed"
    assert view["per_need"][0]["provider_id"] == OTHER_PROVIDER
    assert view["per_need"][0]["attempt"] == 2


async def test_history_filters_and_exports(client: httpx.AsyncClient, auth: Auth) -> None:
    h = auth("caseworker")
    case_id = await open_case(client, h)
    await _referral(client, h, case_id)
    await client.post(f"/cases/{case_id}/close", json={"reason": "services_completed"}, headers=h)
    a = auth("auditor")
    url = f"/cases/{case_id}/history"
    full = (await client.get(url, headers=a)).json()["entries"]
    assert names(full)[0] == "CaseOpened" and names(full)[-1] == "CaseClosed"

    # type is repeatable; the full type name works too
    both = (
        await client.get(url, params=[("type", "CaseClosed"), ("type", full[0]["type"])], headers=a)
    ).json()["entries"]
    assert names(both) == ["CaseOpened", "CaseClosed"]

    # from/to are inclusive RFC 3339 bounds
    last = full[-1]["time"]
    tail = (await client.get(url, params={"from": last}, headers=a)).json()["entries"]
    assert tail and all(e["time"] >= last for e in tail) and len(tail) < len(full)
    head = (await client.get(url, params={"to": full[0]["time"]}, headers=a)).json()["entries"]
    assert names(head)[0] == "CaseOpened" and "CaseClosed" not in names(head)
    naive = await client.get(url, params={"from": "2026-01-01T00:00:00"}, headers=a)
    assert naive.status_code == 422

    nd = await client.get(url, headers={**a, "Accept": "application/x-ndjson"})
    assert nd.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(x) for x in nd.text.splitlines()] == full
    c = await client.get(url, params={"type": "CaseClosed"}, headers={**a, "Accept": "text/csv"})
    assert c.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(c.text)))
    assert len(rows) == 1 and rows[0]["type"] == full[-1]["type"]
    assert json.loads(rows[0]["data"]) == full[-1]["data"]


async def test_decrypted_history_only_for_allowed_roles_and_recorded(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    case_id = await open_case(client, auth("caseworker"))
    url = f"/cases/{case_id}/history"

    async def reads() -> list[dict]:  # type: ignore[type-arg]
        r = await client.get(f"/cases/{case_id}/access-log", headers=auth("auditor"))
        return list(r.json()["reads"])

    # An auditor without decrypt sees ciphertext only, and nothing is recorded
    plain = await client.get(url, headers=auth("auditor", sub="ava"))
    assert not any(s in plain.text for s in SECRETS) and '"ct"' in plain.text
    assert await reads() == []
    # Admins never decrypt; caseworkers have no history; another region's supervisor: 404
    assert (
        await client.get(url, params={"decrypt": "true"}, headers=auth("admin"))
    ).status_code == 403
    assert (await client.get(url, headers=auth("caseworker"))).status_code == 403
    assert (await client.get(url, headers=auth("supervisor", region="khatlon"))).status_code == 404

    # An auditor asking to decrypt reads the name, and that read is in the access log
    opened = await client.get(url, params={"decrypt": "true"}, headers=auth("auditor", sub="ava"))
    assert GIVEN_NAME in opened.text
    profiles = [e["data"]["profile"] for e in opened.json()["entries"] if "profile" in e["data"]]
    assert profiles[0]["identifying"]["given_name"] == GIVEN_NAME
    log = await reads()
    assert [(x["who"], x["role"], x["endpoint"]) for x in log] == [("ava", "auditor", HISTORY)]
    assert "history.profile.identifying" in log[0]["fields"]

    # A supervisor always reads decrypted (a CSV export too), and is recorded each time
    s = auth("supervisor", sub="sami")
    csv_export = await client.get(url, headers={**s, "Accept": "text/csv"})
    assert GIVEN_NAME in csv_export.text
    assert [x["who"] for x in await reads()] == ["ava", "sami"]
