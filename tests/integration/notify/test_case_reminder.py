"""A reflection period ending reaches the case's caseworker through notify: a notification
about the case (no referral), naming it only by its reference."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
from nats.js import JetStreamContext

from services.notify.app.subjects import notifications_stream_name
from services.notify.domain.notification import Notification
from shared.events.base import Sealed
from shared.events.case import CaseOpened
from shared.events.case_emergency import EmergencyAccessGranted
from shared.events.case_plan import DueDateReminderDue
from shared.events.case_reflection import ReflectionPeriodReminderDue
from shared.events.case_transfer import CaseTransferRequested
from tests.integration.notify.conftest import Token
from tests.integration.notify.stories import envelope, eventually, notify_events, publish


async def test_the_caseworker_is_reminded_on_its_subject_without_the_case_id(
    client: httpx.AsyncClient, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    case_id = str(uuid.uuid4())
    opened = CaseOpened(caseworker="cw-khujand-3", region="sughd", categories=["trafficking"])
    ends_at = datetime.now(UTC) + timedelta(days=7, hours=1)
    due = ReflectionPeriodReminderDue(ends_at=ends_at, days_before=7)
    sub = await js.subscribe(
        f"{namespace}.caseworker.cw-khujand-3.notifications",
        stream=notifications_stream_name(namespace),
    )
    await publish(js, namespace, envelope(opened, case_id, version=1))
    await publish(js, namespace, envelope(due, case_id, version=2))

    [queued] = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) == 1
    )
    assert (queued["referral_id"], queued["recipient_kind"], queued["template"]) == (
        None,
        "caseworker",
        "reflection_period_ending",
    )
    msg = await sub.next_msg(timeout=10)
    body = json.loads(msg.data)
    assert body["data"]["kind"] == "reflection_period_ending"
    assert body["data"]["days_left"] == 8  # rounded up: seven days and an hour
    assert body["data"]["ends_on"] == ends_at.date().isoformat()
    assert case_id not in msg.data.decode()
    await sub.unsubscribe()


async def test_breaking_the_glass_reaches_the_owning_office_supervisors_at_once(
    client: httpx.AsyncClient, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    case_id = str(uuid.uuid4())
    opened = CaseOpened(
        caseworker="cw-khujand-3", office="khujand-nrm", region="sughd", categories=["trafficking"]
    )
    until = datetime.now(UTC) + timedelta(hours=1)
    granted = EmergencyAccessGranted(
        grant_id="g-1",
        who="cw-khorog",
        role="caseworker",
        reason=Sealed(kid="k", nonce="bm9uY2U=", ct="c2VhbGVk"),
        expires_at=until,
        owning_office="khujand-nrm",
        owning_region="sughd",
    )
    sub = await js.subscribe(
        f"{namespace}.supervisor.khujand-nrm.notifications",
        stream=notifications_stream_name(namespace),
    )
    await publish(js, namespace, envelope(opened, case_id, version=1))
    await publish(js, namespace, envelope(granted, case_id, version=2))

    msg = await sub.next_msg(timeout=10)
    body = json.loads(msg.data)
    assert body["type"] == "org.safepath.notify.SupervisorNotification.v1"
    assert (body["data"]["kind"], body["data"]["role"]) == (
        "emergency_access_granted",
        "caseworker",
    )
    text = msg.data.decode()
    assert case_id not in text and "cw-khorog" not in text and "c2VhbGVk" not in text
    [queued] = await notify_events(pool, "NotificationQueued")
    assert (queued["recipient_kind"], queued["recipient_id"]) == ("supervisor", "khujand-nrm")
    await sub.unsubscribe()


async def test_a_transfer_request_reaches_the_receiving_office_not_the_sender(
    client: httpx.AsyncClient, js: JetStreamContext, namespace: str, pool: asyncpg.Pool
) -> None:
    case_id = str(uuid.uuid4())
    opened = CaseOpened(
        caseworker="cw-khujand-3", office="khujand-nrm", region="sughd", categories=["trafficking"]
    )
    requested = CaseTransferRequested(
        transfer_id="t-1",
        from_caseworker="cw-khujand-3",
        from_office="khujand-nrm",
        to_caseworker=None,
        to_office="dushanbe-nrm",
        requested_by="cw-khujand-3",
        expires_at=None,
    )
    sub = await js.subscribe(
        f"{namespace}.supervisor.dushanbe-nrm.notifications",
        stream=notifications_stream_name(namespace),
    )
    await publish(js, namespace, envelope(opened, case_id, version=1))
    await publish(js, namespace, envelope(requested, case_id, version=2))

    msg = await sub.next_msg(timeout=10)
    body = json.loads(msg.data)
    assert body["data"]["kind"] == "transfer_requested"
    assert case_id not in msg.data.decode() and "cw-khujand-3" not in msg.data.decode()
    [queued] = await notify_events(pool, "NotificationQueued")
    assert (queued["recipient_kind"], queued["recipient_id"]) == ("supervisor", "dushanbe-nrm")
    await sub.unsubscribe()


async def test_a_plan_date_reaches_the_caseworker_once_in_its_language_without_the_goal(
    client: httpx.AsyncClient,
    auth: Token,
    js: JetStreamContext,
    namespace: str,
    pool: asyncpg.Pool,
) -> None:
    cw = auth("caseworker", sub="cw-khujand-7")
    r = await client.put(
        "/recipients/caseworker/cw-khujand-7/language", json={"language": "tg"}, headers=cw
    )
    assert r.status_code == 200, r.text
    case_id = str(uuid.uuid4())
    opened = CaseOpened(caseworker="cw-khujand-7", region="sughd", categories=["mine_eo"])
    due_on = datetime.now(UTC).date() + timedelta(days=3)
    due = DueDateReminderDue(
        kind="plan_goal", item_id="goal-prosthesis-fit", due_on=due_on, days_before=3
    )
    sub = await js.subscribe(
        f"{namespace}.caseworker.cw-khujand-7.notifications",
        stream=notifications_stream_name(namespace),
    )
    await publish(js, namespace, envelope(opened, case_id, version=1))
    reminder = envelope(due, case_id, version=2)
    await publish(js, namespace, reminder)
    # Delivered again (past the bus's de-duplication window, say): told once all the same.
    await publish(js, namespace, reminder, msg_id=f"{reminder.id}-again")

    msg = await sub.next_msg(timeout=10)
    body = json.loads(msg.data)
    assert body["type"] == "org.safepath.notify.CaseworkerNotification.v1"
    assert (body["data"]["kind"], body["data"]["due_on"], body["data"]["days_left"]) == (
        "plan_goal_due",
        due_on.isoformat(),
        3,
    )
    assert body["data"]["message"]["language"] == "tg"
    text = msg.data.decode()
    assert case_id not in text and "goal-prosthesis-fit" not in text
    Notification.model_validate(body)  # the published schema holds
    queued = await eventually(
        lambda: notify_events(pool, "NotificationQueued"), lambda q: len(q) >= 1
    )
    await asyncio.sleep(1)  # room for the repeated delivery to be (not) handled
    queued = await notify_events(pool, "NotificationQueued")
    assert [(q["template"], q["language"]) for q in queued] == [("plan_goal_due", "tg")]
    await sub.unsubscribe()
