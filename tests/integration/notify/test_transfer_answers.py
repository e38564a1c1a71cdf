"""The sending side of a transfer hears how it ended (issue 13 item 7): accepted, refused
or expired, through notify, in the sender's own language, naming the case only by its
reference: never the case id, who answered, the reason code or where the case went."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.notify.app.subjects import notifications_stream_name
from services.notify.domain.notification import Notification
from shared.envelope import Envelope
from shared.events.base import Event
from shared.events.case import CaseOpened
from shared.events.case_transfer import (
    CaseTransferAccepted,
    CaseTransferExpired,
    CaseTransferRefused,
    CaseTransferRequested,
)
from tests.integration.notify.conftest import Token
from tests.integration.notify.stories import envelope, eventually, notify_events, publish


def _by(env: Envelope, actor: str) -> Envelope:
    return env.model_copy(update={"actor": actor})


def _request(tid: str, requested_by: str) -> CaseTransferRequested:
    return CaseTransferRequested(
        transfer_id=tid,
        from_caseworker="cw-khujand-3",
        from_office="khujand-nrm",
        to_caseworker="cw-dushanbe-9",
        to_office="dushanbe-nrm",
        requested_by=requested_by,
        expires_at=None,
    )


async def _story(
    js: JetStreamContext, namespace: str, case_id: str, actor: str, answer: Event
) -> Envelope:
    """Opened, requested by ``actor``, answered; the answer's envelope."""
    opened = CaseOpened(
        caseworker="cw-khujand-3", office="khujand-nrm", region="sughd", categories=["mine_eo"]
    )
    requested = _request("t-1", actor.partition(":")[2])
    await publish(js, namespace, envelope(opened, case_id, version=1))
    await publish(js, namespace, _by(envelope(requested, case_id, version=2), actor))
    answered = _by(envelope(answer, case_id, version=3), "caseworker:cw-d")
    await publish(js, namespace, answered)
    return answered


async def test_the_requesting_caseworker_hears_of_the_acceptance_in_its_language(
    client: httpx.AsyncClient, auth: Token, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker", sub="cw-khujand-3")
    r = await client.put(
        "/recipients/caseworker/cw-khujand-3/language", json={"language": "tg"}, headers=cw
    )
    assert r.status_code == 200, r.text
    case_id = str(uuid.uuid4())
    sub = await js.subscribe(
        f"{namespace}.caseworker.cw-khujand-3.notifications",
        stream=notifications_stream_name(namespace),
    )
    accepted = CaseTransferAccepted(transfer_id="t-1", accepted_by="cw-dushanbe-9")
    await _story(js, namespace, case_id, "caseworker:cw-khujand-3", accepted)

    msg = await sub.next_msg(timeout=10)
    body = json.loads(msg.data)
    assert body["type"] == "org.safepath.notify.CaseworkerNotification.v1"
    assert body["data"]["kind"] == "transfer_accepted"
    assert body["data"]["message"]["language"] == "tg"
    text = msg.data.decode()
    for secret in (case_id, "cw-dushanbe-9", "dushanbe-nrm"):
        assert secret not in text
    Notification.model_validate(body)
    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"),
        lambda q: any(e["template"] == "transfer_accepted" for e in q),
    )
    sent = [(q["recipient_kind"], q["recipient_id"], q["template"]) for q in queued]
    assert ("caseworker", "cw-khujand-3", "transfer_accepted") in sent
    await sub.unsubscribe()


async def test_a_supervisors_request_is_answered_to_the_sending_office_supervisors(
    client: httpx.AsyncClient, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    case_id = str(uuid.uuid4())
    sub = await js.subscribe(
        f"{namespace}.supervisor.khujand-nrm.notifications",
        stream=notifications_stream_name(namespace),
    )
    refused = CaseTransferRefused(
        transfer_id="t-1", refused_by="cw-dushanbe-9", reason_code="conflict_of_interest"
    )
    await _story(js, namespace, case_id, "supervisor:sup-khujand", refused)

    msg = await sub.next_msg(timeout=10)
    body = json.loads(msg.data)
    assert body["data"]["kind"] == "transfer_refused"
    assert body["data"]["message"]["language"] == "en"  # no setting: the default
    text = msg.data.decode()
    for secret in (case_id, "conflict_of_interest", "cw-dushanbe-9", "sup-khujand"):
        assert secret not in text
    await sub.unsubscribe()


async def test_an_expired_request_is_told_to_whoever_asked_once(
    client: httpx.AsyncClient, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    case_id = str(uuid.uuid4())
    sub = await js.subscribe(
        f"{namespace}.caseworker.cw-khujand-3.notifications",
        stream=notifications_stream_name(namespace),
    )
    expired = CaseTransferExpired(transfer_id="t-1", expires_at=datetime(2026, 1, 8, tzinfo=UTC))
    answer = await _story(js, namespace, case_id, "caseworker:cw-khujand-3", expired)
    # Delivered again (past the bus's de-duplication window, say): told once all the same.
    await publish(js, namespace, answer, msg_id=f"{answer.id}-again")

    msg = await sub.next_msg(timeout=10)
    assert json.loads(msg.data)["data"]["kind"] == "transfer_expired"
    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"),
        lambda q: any(e["template"] == "transfer_expired" for e in q),
    )
    await asyncio.sleep(1)  # room for the repeated delivery to be (not) handled
    queued = await notify_events(pool, "NotificationQueued")
    assert [q["template"] for q in queued].count("transfer_expired") == 1
    await sub.unsubscribe()
