"""``safepath demo``: the referral mechanism doing its job, step by step, on a running system.

It plays one realistic day against the services ``make run`` started, through their public
interfaces only (HTTP and NATS), and says in plain language what happens, with the ids:

1. a caseworker in Khujand opens a trafficking case for a young woman (a presumed victim),
   records her consent for shelter, legal aid and medical care, and requests referrals;
2. the referral service routes each need and gives its reasons;
3. the shelter hears of its referral on its NATS subject and over a signed webhook to a
   receiver this demo starts (the signature is verified with Standard Webhooks);
4. the shelter accepts and reads, over HTTPS, the contact arrangement her consent lets it
   have (recorded in the case's access log); the caseworker puts her stay in the case
   plan (a goal with the shelter as responsible provider, checked against the directory,
   and a follow-up visit); the reflection timer reminds the caseworker of her recovery
   and reflection period, and the due-date timer of the shelter goal, through notify
   (seen in the case's history; only with ``make run``'s reminder settings,
   ``RUN_SETTINGS``); the
   legal aid centre declines and the referral goes elsewhere;
   then she withdraws her consent: every provider that received one of her referrals
   (the one that declined too) is told on its subject and webhook to stop and delete,
   reads the referral as 410 Gone from then on, and confirms the deletion;
5. an emergency referral for a mine survivor in Khorog escalates when its answer time
   passes (only visible when the system runs with a short emergency SLA);
   then Khorog asks the Dushanbe office to take her case over: the case stays in Khorog
   until Dushanbe accepts from its list of transfers to answer; then the case, its
   referrals and its notifications are Dushanbe's, and Khorog no longer sees it;
6. an auditor reads the case's history and verifies every service's audit chain.

The people are invented. ``run_demo`` is the coroutine the end-to-end test calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
from nats.js.errors import APIError, NotFoundError
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shared.natsauth import Credentials, inbox_prefix

# The shelter nearest to Khujand in the default directory (Sughd region). Its webhook is
# registered before the referral is requested, so the very first notification reaches it.
SHELTER = "women-and-society-shelter-buston"
KHUJAND = {"region": "sughd", "office": "khujand"}
KHOROG = {"region": "gbao", "office": "khorog"}
DUSHANBE = {"region": "dushanbe", "office": "dushanbe"}
NEEDS = ["shelter", "legal_aid", "medical"]

# What `make run` gives the services for this demo (the Makefile's `run` target sets each
# unless already set; tests/e2e/test_demo.py starts its system with the same values, and
# tests/unit/test_run_settings.py checks the two agree). Never production defaults:
# - the webhook receiver the demo starts listens on 127.0.0.1, which notify calls only
#   when it is on the allow-list;
# - a reminder 30 days before the end of the reflection period (the default length, so it
#   falls due as the period starts: "it ends on <date>") besides the default 7 and 1, and
#   a timer that looks every 2 s instead of 300, so the demo sees a real reminder go
#   through the real timer and notify without waiting for weeks or moving any clock;
# - likewise a reminder 30 days before a plan goal's or follow-up's date besides the default
#   3 and 0, and a 2-second due-date timer: the shelter goal (due in 30 days) and the visit
#   (in 7) are reminded as they are set.
RUN_SETTINGS: dict[str, str] = {
    "SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "SAFEPATH_CASE_REFLECTION_REMINDER_DAYS": "[30,7,1]",
    "SAFEPATH_CASE_REFLECTION_INTERVAL_SECONDS": "2",
    "SAFEPATH_CASE_DUE_REMINDER_DAYS": "[30,3,0]",
    "SAFEPATH_CASE_DUE_INTERVAL_SECONDS": "2",
}

TokenMaker = Callable[..., str]  # (sub, role, **claims) -> bearer token
Say = Callable[[str], None]


@dataclass(frozen=True)
class Endpoints:
    case_url: str
    referral_url: str
    notify_url: str
    nats_url: str
    namespace: str = "safepath"
    # The installation's NATS credentials directory (``<data>/nats-auth``): the demo reads
    # as a provider would, with that provider's own credentials (issued if missing).
    nats_auth_dir: str | None = None


@dataclass
class DemoResult:
    """What happened, for tests (and anyone scripting the demo)."""

    case_id: str = ""
    request_id: str = ""
    routed: dict[str, str | None] = field(default_factory=dict)  # need -> provider id
    referral_ids: dict[str, str] = field(default_factory=dict)  # need -> referral id
    nats_notification_id: str | None = None
    webhook_verified: bool = False
    shelter_status: str | None = None
    handover_fields: list[str] = field(default_factory=list)  # what the shelter could read
    plan_goal_provider: str | None = None  # the case plan's shelter goal: who is responsible
    follow_up_due: str | None = None  # the follow-up visit's date, as the case shows it
    plan_reminder_template: str | None = None  # notify's template for the goal's reminder
    plan_reminder_delivered: str | None = None  # the channel, e.g. "nats"
    reflection_days_left: int | None = None  # the presumed victim's reflection period
    # The reflection timer's reminder, as the case's history shows it: the case event's
    # days before the end, and notify's notification to the caseworker (template, whom,
    # and the channel that took it).
    reflection_reminded_days_before: int | None = None
    reflection_reminder_template: str | None = None
    reflection_reminder_recipient: str | None = None  # "caseworker <id>"
    reflection_reminder_delivered: str | None = None  # the channel, e.g. "nats"
    legal_declined_by: str | None = None
    legal_rerouted_to: str | None = None
    consent_id: str = ""
    told_to_delete: list[str] = field(default_factory=list)  # providers, after withdrawal
    withdrawal_webhook_verified: bool = False
    shelter_gone_status: int | None = None  # what the shelter's GET answers afterwards
    deletion_confirmed: bool = False
    emergency_case_id: str = ""
    emergency_referral_id: str = ""
    emergency_first_provider: str | None = None
    escalated: bool = False
    transfer_id: str = ""
    transfer_listed: bool = False  # the receiving office found it in its list
    transferred_to: str | None = None  # the case's office after the acceptance
    sender_after_transfer: int | None = None  # what the sending caseworker's GET answers
    referrals_follow_transfer: bool = False  # the receiving office sees its referrals
    history: list[dict[str, Any]] | None = None
    audit_ok: dict[str, bool] = field(default_factory=dict)


class DemoFailed(RuntimeError):
    pass


def _now() -> str:
    return datetime.now(UTC).strftime("%H:%M:%S")


async def _until(probe: Callable[[], Awaitable[Any]], within: float, interval: float = 0.25) -> Any:
    """Call ``probe`` until it returns something truthy; ``None`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        got = await probe()
        if got:
            return got
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(interval)


def _ok(r: httpx.Response, *expected: int) -> Any:
    if r.status_code not in (expected or (200,)):
        raise DemoFailed(
            f"{r.request.method} {r.request.url.path} answered {r.status_code}: {r.text[:300]}"
        )
    return r.json() if r.content else None


# -- the webhook receiver ----------------------------------------------------------------


class WebhookReceiver:
    """A tiny HTTP server on 127.0.0.1 that verifies each delivery's Standard Webhooks
    signature (401 if it does not verify) and keeps the verified notifications.

    Notify calls no loopback address unless it is on its allow-list, so the system must
    run with ``SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS=127.0.0.1`` (``make run`` and the e2e
    harness set it)."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.verified: list[dict[str, Any]] = []
        self.rejected = 0
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/safepath/hooks"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self._receive(body, headers)
            reason = {204: "No Content", 401: "Unauthorized"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n"
                "connection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    def _receive(self, body: bytes, headers: dict[str, str]) -> int:
        if self.secret is None:
            self.rejected += 1
            return 401
        try:
            notification = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.rejected += 1
            return 401
        if all(n.get("id") != notification.get("id") for n in self.verified):  # dedupe
            self.verified.append(notification)
        return 204

    def find(self, referral_id: str, kind: str | None = None) -> dict[str, Any] | None:
        for n in self.verified:
            if n.get("subject") == referral_id and kind in (None, n.get("data", {}).get("kind")):
                return n
        return None


# -- the scenario -------------------------------------------------------------------------


def _survivor_profile() -> dict[str, Any]:
    # An invented person; these fields are sealed by the case service.
    return {
        "given_name": "Example",
        "family_name": "Demo-Person",
        "estimated_age_years": 19,
        "contact_arrangement": "through the Khujand office, weekdays",
        "narrative": "Invented for the demo: recruited with a false job offer abroad.",
        "sex": "female",
        "language": "tg",
        "region": "sughd",
        "district": "khujand",
        "categories": ["trafficking"],
        "citizenship_status": "citizen",
        "nationality": "TJ",
    }


def _mine_survivor_profile() -> dict[str, Any]:
    return {
        "given_name": "Example",
        "family_name": "Demo-Survivor",
        "estimated_age_years": 34,
        "sex": "male",
        "disability": True,
        "disability_kind": "physical",
        "language": "tg",
        "region": "gbao",
        "district": "khorog",
        "categories": ["mine_eo"],
        "citizenship_status": "citizen",
        "nationality": "TJ",
    }


class Demo:
    def __init__(
        self, ep: Endpoints, token: TokenMaker, say: Say, escalation_wait: float, timeout: float
    ) -> None:
        self.ep = ep
        self.token = token
        self.say = say
        self.escalation_wait = escalation_wait
        self.timeout = timeout
        self.result = DemoResult()
        self.receiver = WebhookReceiver()

    def client(self, base: str, sub: str, role: str, **claims: Any) -> httpx.AsyncClient:
        bearer = self.token(sub, role, **claims)
        return httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Bearer {bearer}"}, timeout=15.0
        )

    def step(self, n: int, title: str) -> None:
        self.say(f"\n[{_now()}] {n}. {title}")

    async def run(self) -> DemoResult:
        await self.receiver.start()
        try:
            await self.register_webhook()
            await self.open_trafficking_case()
            await self.show_routing()
            await self.shelter_hears_of_it()
            await self.shelter_accepts()
            await self.plan_her_stay()
            await self.caseworker_reminded()
            await self.plan_reminded()
            await self.legal_aid_declines()
            await self.consent_withdrawn()
            await self.emergency_escalates()
            await self.transfer_accepted()
            await self.auditor_checks()
        finally:
            await self.receiver.stop()
        self.say(f"\n[{_now()}] Done.")
        return self.result

    async def register_webhook(self) -> None:
        self.step(0, f"The shelter {SHELTER} registers a webhook (the demo's own receiver)")
        async with self.client(self.ep.notify_url, "demo-admin", "admin") as admin:
            path = f"/providers/{SHELTER}/webhook"
            r = await admin.put(path, json={"url": self.receiver.url})
            if r.status_code == 422:
                raise DemoFailed(
                    "notify refused the demo's webhook receiver on 127.0.0.1: only hosts on "
                    "its allow-list may be called. Start the system with "
                    "SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS=127.0.0.1 (`make run` does)."
                )
            view = _ok(r, 200, 201)
            if not view["secret"]:  # registered by an earlier run: make a fresh secret
                view = _ok(await admin.put(path, json={"url": self.receiver.url, "rotate": True}))
        self.receiver.secret = view["secret"]
        self.say(
            f"   webhook {self.receiver.url} registered; signing secret received "
            f"({view['active_secrets']} active)"
        )

    async def open_trafficking_case(self) -> None:
        r = self.result
        self.step(1, "A caseworker in Khujand opens a trafficking case for a young woman")
        async with self.client(
            self.ep.case_url, "demo-caseworker-khujand", "caseworker", **KHUJAND
        ) as cw:
            body = {
                "region": "sughd",
                "categories": ["trafficking"],
                "office": "khujand",
                "profile": _survivor_profile(),
            }
            r.case_id = _ok(await cw.post("/cases", json=body), 201)["id"]
            self.say(
                f"   case {r.case_id} opened (office khujand; her name, age and story are "
                "sealed with the case's own key)"
            )
            base = f"/cases/{r.case_id}"
            ident = {"status": "presumed", "basis": "indicators_present", "deciding_agency": "ngo"}
            _ok(await cw.post(f"{base}/identification", json=ident))
            self.say("   identification recorded: presumed victim (indicators present, NGO)")
            view = _ok(await cw.get(base, params={"identifying": "false"}))
            period = view.get("reflection_period") or {}
            r.reflection_days_left = period.get("days_left")
            if period:
                self.say(
                    f"   her recovery and reflection period runs until {period['ends_at'][:10]}"
                    f" ({period['days_left']} days left); the caseworker is reminded before"
                    " it ends, through notify"
                )
            _ok(await cw.post(f"{base}/needs", json={"needs": NEEDS}))
            consent = {
                "purpose": "referral",
                "service_types": NEEDS,
                "data_categories": ["needs", "demographics", "contact"],
                "given_by": "survivor",
            }
            consent_id = _ok(await cw.post(f"{base}/consents", json=consent))["consent_id"]
            r.consent_id = consent_id
            self.say(
                f"   consent {consent_id}: she agrees to be referred for "
                f"{', '.join(NEEDS)} (needs and demographics; her contact arrangement only to"
                " the provider that accepts)"
            )
            req = {"needs": NEEDS, "urgency": "urgent", "consent_id": consent_id}
            r.request_id = _ok(await cw.post(f"{base}/referrals", json=req), 202)["referral_id"]
            self.say(
                f"   referral request {r.request_id} sent (urgent): the referral service "
                "routes it asynchronously"
            )

    async def _case_referrals(self, case_id: str, **claims: Any) -> list[dict[str, Any]]:
        async with self.client(
            self.ep.referral_url, "demo-caseworker", "caseworker", **claims
        ) as cw:
            rows: list[dict[str, Any]] = _ok(await cw.get(f"/cases/{case_id}/referrals"))
        return rows

    async def show_routing(self) -> None:
        r = self.result
        self.step(2, "The referral service routes each need to a provider, with its reasons")

        async def all_routed() -> list[dict[str, Any]] | None:
            rows = await self._case_referrals(r.case_id, **KHUJAND)
            return rows if len(rows) == len(NEEDS) else None

        rows = await _until(all_routed, self.timeout)
        if rows is None:
            raise DemoFailed(f"the referrals of case {r.case_id} were not routed in time")
        for row in sorted(rows, key=lambda x: NEEDS.index(x["need"])):
            r.routed[row["need"]] = row["provider_id"]
            r.referral_ids[row["need"]] = row["referral_id"]
            where = row["provider_id"] or f"nobody (coordinator {row['coordinator_id']})"
            self.say(f"   {row['need']:<9} referral {row['referral_id']} -> {where}")
            if row["reasons"]:
                self.say(f"             why: {row['reasons']['summary']}")

    async def shelter_hears_of_it(self) -> None:
        r = self.result
        shelter_referral = r.referral_ids["shelter"]
        provider = r.routed["shelter"]
        self.step(3, f"The shelter ({provider}) is notified on NATS and by webhook")
        if provider != SHELTER:
            self.say(f"   (the demo registered a webhook for {SHELTER} only)")
        if provider:
            got = await self._pull_notification(provider, shelter_referral)
            if got is not None:
                r.nats_notification_id = got["id"]
                self.say(
                    f"   NATS: notification {got['id']} pulled from durable consumer "
                    f"provider-{provider} on {self.ep.namespace}.provider.{provider}"
                    ".notifications"
                )
                self.say(f'         "{got["data"]["message"]["text"]}"')
            else:
                self.say("   NATS: no notification arrived in time")
        hook = await _until(lambda: _const(self.receiver.find(shelter_referral)), self.timeout)
        if hook is not None:
            r.webhook_verified = True
            self.say(
                f"   webhook: POST received for referral {shelter_referral}, notification "
                f"{hook['id']}; Standard Webhooks signature verified"
            )
            self.say(
                f"         the shelter sees case reference {hook['data']['case_reference']}"
                ", never the case id or her name"
            )
        else:
            self.say(
                f"   webhook: nothing verified for this referral "
                f"({self.receiver.rejected} rejected)"
            )

    async def _pull_notification(self, provider: str, referral_id: str) -> dict[str, Any] | None:
        """Pull from the provider's durable consumer as the provider would (see
        deploy/nats/README.md); acknowledge what was read, return the one for the referral."""
        identity = f"provider:{provider}"
        opts: dict[str, Any] = {"inbox_prefix": inbox_prefix(identity)}
        if self.ep.nats_auth_dir:
            creds = Credentials(Path(self.ep.nats_auth_dir))
            if not creds.path(identity).exists():
                creds.issue(identity, self.ep.namespace)
            opts["user_credentials"] = str(creds.path(identity))
        nc = await nats.connect(self.ep.nats_url, **opts)
        try:
            js = nc.jetstream()
            stream = f"{self.ep.namespace}_notifications".upper()
            durable = f"provider-{provider}"
            deadline = time.monotonic() + self.timeout
            sub = None
            while sub is None:
                try:  # notify creates the consumer before the provider's first notification
                    sub = await js.pull_subscribe_bind(durable=durable, stream=stream)
                except NotFoundError:
                    if time.monotonic() > deadline:
                        return None
                    await asyncio.sleep(0.25)
            found = None
            while found is None and time.monotonic() < deadline:
                try:
                    msgs = await sub.fetch(50, timeout=1)
                except TimeoutError:
                    continue
                except APIError:  # e.g. 503 while the consumer is being set up: try again
                    await asyncio.sleep(0.25)
                    continue
                for msg in msgs:
                    doc = json.loads(msg.data)
                    if doc.get("subject") == referral_id and found is None:
                        found = doc
                    await msg.ack()
            return found
        finally:
            await nc.close()

    async def shelter_accepts(self) -> None:
        r = self.result
        rid, provider = r.referral_ids["shelter"], r.routed["shelter"]
        self.step(4, f"The shelter ({provider}) accepts referral {rid}")
        if not provider:
            self.say("   (no shelter was found, nothing to accept)")
            return
        async with self.client(
            self.ep.referral_url, f"demo-{provider}", "provider", provider_id=provider
        ) as p:
            resp = await p.post(f"/referrals/{rid}/accept")
        if resp.status_code == 200:
            r.shelter_status = resp.json()["status"]
            self.say(f"   status now: {r.shelter_status}; the caseworker is told")
        else:
            self.say(f"   the accept was refused: {resp.status_code} {resp.text[:200]}")
            return
        await self.shelter_reads_handover(rid, provider)

    async def shelter_reads_handover(self, rid: str, provider: str) -> None:
        """Who is arriving: what her consent lets the accepting shelter read, over HTTPS."""
        async with self.client(
            self.ep.case_url, f"demo-{provider}", "provider", provider_id=provider
        ) as p:
            url = f"/referrals/{rid}/handover"
            got = await _until(lambda: _handover(p, url), self.timeout)
        if got is None:
            self.say("   handover: not available in time")
            return
        r = self.result
        r.handover_fields = sorted(k for k in got if k not in ("referral_id", "categories"))
        self.say(
            f"   handover: the shelter reads {', '.join(r.handover_fields)} over HTTPS "
            f"(consent: {', '.join(got['categories'])}); the read is in the case's access "
            "log, and nothing of it went onto the bus"
        )

    async def plan_her_stay(self) -> None:
        """Step 4 goes on: the caseworker puts the stay and a visit in the case plan."""
        r = self.result
        provider = r.routed.get("shelter")
        if r.shelter_status != "accepted" or not provider:
            return
        today = datetime.now(UTC).date()
        async with self.client(
            self.ep.case_url, "demo-caseworker-khujand", "caseworker", **KHUJAND
        ) as cw:
            base = f"/cases/{r.case_id}"
            goal = {
                "need": "shelter",
                "description": "A safe place while she decides what comes next",
                "provider_id": provider,  # checked against the directory the case heard
                "due_on": (today + timedelta(days=30)).isoformat(),
            }
            _ok(await cw.put(f"{base}/plan/goals/stay", json=goal))
            visit = {
                "due_on": (today + timedelta(days=7)).isoformat(),
                "note": "Visit her at the shelter",
            }
            _ok(await cw.put(f"{base}/follow-ups/first-visit", json=visit))
            view = _ok(await cw.get(base, params={"identifying": "false"}))
        [goal_view] = [g for g in view["plan"] if g["goal_id"] == "stay"]
        [visit_view] = [f for f in view["follow_ups"] if f["follow_up_id"] == "first-visit"]
        r.plan_goal_provider, r.follow_up_due = goal_view["provider_id"], visit_view["due_on"]
        self.say(
            f"   case plan: goal 'stay' (shelter, responsible {r.plan_goal_provider}, due"
            f" {goal_view['due_on']}) and a follow-up visit on {r.follow_up_due}; the"
            " caseworker is reminded before each date and on the day, through notify (case"
            " reference and date only)"
        )

    async def _reminder_in_history(
        self, due_name: str, template: str, kind: str | None = None
    ) -> tuple[dict[str, Any], ...] | None:
        """A timer's reminder event (of ``kind``, when given), notify's notification with
        ``template`` and its delivery, as the case's history shows them (an auditor's read:
        nothing sealed opens); None if they do not all arrive in time."""
        r = self.result
        names = (due_name, "NotificationQueued", "NotificationDelivered")
        async with self.client(self.ep.case_url, "demo-auditor", "auditor") as a:

            async def reminded() -> tuple[dict[str, Any], ...] | None:
                path = f"/cases/{r.case_id}/history"
                resp = await a.get(path, params={"type": list(names)})
                if resp.status_code != 200:
                    return None
                entries: list[dict[str, Any]] = resp.json()["entries"]
                due = [
                    e
                    for e in entries
                    if _event_name(e) == due_name
                    and (kind is None or e["data"].get("kind") == kind)
                ]
                queued = [
                    e
                    for e in entries
                    if _event_name(e) == names[1] and e["data"].get("template") == template
                ]
                if not due or not queued:
                    return None
                nid = queued[0]["data"]["notification_id"]
                delivered = [
                    e
                    for e in entries
                    if _event_name(e) == names[2] and e["data"].get("notification_id") == nid
                ]
                return (due[0], queued[0], delivered[0]) if delivered else None

            found: tuple[dict[str, Any], ...] | None = await _until(reminded, self.timeout)
            return found

    async def caseworker_reminded(self) -> None:
        """Step 4 goes on: the reflection timer's reminder reaches the caseworker through
        notify, as the case's history shows it (an auditor's read: nothing sealed opens)."""
        r = self.result
        if r.reflection_days_left is None:
            return
        found = await self._reminder_in_history(
            "ReflectionPeriodReminderDue", "reflection_period_ending"
        )
        if found is None:
            self.say(
                "   no reflection-period reminder yet: with the default settings the first"
                " one comes 7 days before the end. `make run` adds a reminder that falls due"
                " at once and a 2-second timer (SAFEPATH_CASE_REFLECTION_REMINDER_DAYS="
                f"{RUN_SETTINGS['SAFEPATH_CASE_REFLECTION_REMINDER_DAYS']},"
                " SAFEPATH_CASE_REFLECTION_INTERVAL_SECONDS="
                f"{RUN_SETTINGS['SAFEPATH_CASE_REFLECTION_INTERVAL_SECONDS']})"
            )
            return
        due, queued, delivered = found
        told = queued["data"]
        r.reflection_reminded_days_before = int(due["data"]["days_before"])
        r.reflection_reminder_template = str(told["template"])
        r.reflection_reminder_recipient = f"{told['recipient_kind']} {told['recipient_id']}"
        r.reflection_reminder_delivered = str(delivered["data"]["channel"])
        self.say(
            "   the reflection timer reminded the caseworker: ReflectionPeriodReminderDue"
            f" (its {r.reflection_reminded_days_before}-days-before setting; the period ends"
            f" on {str(due['data']['ends_at'])[:10]}); notify told"
            f" {r.reflection_reminder_recipient} ({r.reflection_reminder_template}, in"
            f" {told['language']}, case reference and date only), delivered over"
            f" {r.reflection_reminder_delivered}"
        )

    async def plan_reminded(self) -> None:
        """Step 4 goes on: the due-date timer reminds the caseworker of the shelter goal
        through notify, as the case's history shows it (an auditor's read)."""
        r = self.result
        if r.plan_goal_provider is None:
            return
        found = await self._reminder_in_history("DueDateReminderDue", "plan_goal_due", "plan_goal")
        if found is None:
            self.say(
                "   no plan reminder yet: with the default settings the first comes 3 days"
                " before a date. `make run` adds one 30 days before and a 2-second timer"
                " (SAFEPATH_CASE_DUE_REMINDER_DAYS="
                f"{RUN_SETTINGS['SAFEPATH_CASE_DUE_REMINDER_DAYS']},"
                " SAFEPATH_CASE_DUE_INTERVAL_SECONDS="
                f"{RUN_SETTINGS['SAFEPATH_CASE_DUE_INTERVAL_SECONDS']})"
            )
            return
        due, queued, delivered = found
        told = queued["data"]
        r.plan_reminder_template = str(told["template"])
        r.plan_reminder_delivered = str(delivered["data"]["channel"])
        self.say(
            "   the due-date timer reminded the caseworker of the goal: DueDateReminderDue"
            f" (due {due['data']['due_on']}, its {due['data']['days_before']}-days-before"
            f" setting); notify told {told['recipient_kind']} {told['recipient_id']}"
            f" ({r.plan_reminder_template}, in {told['language']}, case reference and date"
            f" only), delivered over {r.plan_reminder_delivered}"
        )

    async def legal_aid_declines(self) -> None:
        r = self.result
        rid, first = r.referral_ids["legal_aid"], r.routed["legal_aid"]
        self.step(5, f"The legal aid provider ({first}) declines referral {rid}")
        if not first:
            self.say("   (no legal aid provider was found)")
            return
        async with self.client(
            self.ep.referral_url, f"demo-{first}", "provider", provider_id=first
        ) as p:
            _ok(await p.post(f"/referrals/{rid}/decline", json={"reason_code": "no_capacity"}))
        r.legal_declined_by = first
        self.say(
            "   declined with reason no_capacity; the referral is routed again at once, "
            f"never to {first} again"
        )

        async def moved() -> dict[str, Any] | None:
            rows = await self._case_referrals(r.case_id, **KHUJAND)
            row = next(x for x in rows if x["referral_id"] == rid)
            return row if row["attempt"] > 1 else None

        row = await _until(moved, self.timeout)
        if row is None:
            self.say("   (not re-routed in time)")
            return
        r.legal_rerouted_to = row["provider_id"]
        where = row["provider_id"] or f"coordinator {row['coordinator_id']}"
        self.say(f"   attempt {row['attempt']}: now with {where}")
        if row["reasons"]:
            self.say(f"   why: {row['reasons']['summary']}")

    async def consent_withdrawn(self) -> None:
        r = self.result
        rid, provider = r.referral_ids["shelter"], r.routed["shelter"]
        self.step(6, f"She withdraws consent {r.consent_id}: every provider must stop and delete")
        async with self.client(
            self.ep.case_url, "demo-caseworker-khujand", "caseworker", **KHUJAND
        ) as cw:
            path = f"/cases/{r.case_id}/consents/{r.consent_id}/withdraw"
            _ok(await cw.post(path, json={"reason_code": "survivor_request"}))
        self.say("   consent withdrawn in the case service; the referral service withdraws")

        async def all_told() -> list[dict[str, Any]] | None:
            rows = await self._case_referrals(r.case_id, **KHUJAND)
            told = [row for row in rows if row["deletion_requested"]]
            return rows if len(told) == len(rows) else None

        rows = await _until(all_told, self.timeout)
        if rows is None:
            raise DemoFailed(f"the withdrawal of case {r.case_id}'s referrals did not happen")
        for row in sorted(rows, key=lambda x: NEEDS.index(x["need"])):
            r.told_to_delete += row["deletion_requested"]
            self.say(
                f"   {row['need']:<9} referral {row['referral_id']} ({row['status']}): "
                f"told to delete: {', '.join(row['deletion_requested'])}"
            )
        if not provider:
            return
        hook = await _until(
            lambda: _const(self.receiver.find(rid, "referral_withdrawn")), self.timeout
        )
        if hook is not None:
            r.withdrawal_webhook_verified = True
            self.say(
                f"   webhook ({provider}, signature verified, in "
                f"{hook['data']['message']['language']}):"
            )
            self.say(f'         "{hook["data"]["message"]["text"]}"')
            self.say("         (only the referral id, case reference and need: nothing else)")
        else:
            self.say("   webhook: the withdrawal did not arrive in time")
        async with self.client(
            self.ep.referral_url, f"demo-{provider}", "provider", provider_id=provider
        ) as p:
            r.shelter_gone_status = (await p.get(f"/referrals/{rid}")).status_code
            self.say(f"   the shelter asks for the referral again: {r.shelter_gone_status} Gone")
            confirmed = await p.post(f"/referrals/{rid}/data-deleted")
        r.deletion_confirmed = confirmed.status_code == 200
        self.say(
            f"   the shelter confirms it deleted everything: {confirmed.status_code}; the others"
            " are reminded, then the coordinator is told, if they stay silent"
        )

    async def emergency_escalates(self) -> None:
        r = self.result
        self.step(7, "A caseworker in Khorog asks for emergency care for a mine survivor")
        async with self.client(
            self.ep.case_url, "demo-caseworker-khorog", "caseworker", **KHOROG
        ) as cw:
            body = {
                "region": "gbao",
                "categories": ["mine_eo"],
                "office": "khorog",
                "profile": _mine_survivor_profile(),
            }
            r.emergency_case_id = _ok(await cw.post("/cases", json=body), 201)["id"]
            req = {
                "needs": ["medical_emergency"],
                "urgency": "emergency",
                "emergency_reason": "Invented for the demo: injured, cannot consent now.",
            }
            _ok(await cw.post(f"/cases/{r.emergency_case_id}/referrals", json=req), 202)
        self.say(
            f"   case {r.emergency_case_id}: emergency referral without consent "
            "(the caseworker recorded why; the reason is sealed)"
        )

        async def routed() -> dict[str, Any] | None:
            rows = await self._case_referrals(r.emergency_case_id, **KHOROG)
            return rows[0] if rows else None

        row = await _until(routed, self.timeout)
        if row is None:
            raise DemoFailed("the emergency referral was not routed in time")
        r.emergency_referral_id = row["referral_id"]
        r.emergency_first_provider = row["provider_id"]
        self.say(
            f"   referral {row['referral_id']} -> {row['provider_id']}, "
            f"must answer by {row['respond_by']}"
        )
        if row["reasons"]:
            self.say(f"   why: {row['reasons']['summary']}")
        if row["respond_by"] is None:
            return
        respond_by = datetime.fromisoformat(row["respond_by"])
        wait = (respond_by - datetime.now(UTC)).total_seconds()
        if wait > self.escalation_wait:
            self.say(
                f"   the answer time ends in {wait / 60:.0f} min, longer than this demo waits "
                f"({self.escalation_wait:.0f} s): `make run` uses the default SLAs. Start "
                "it with SAFEPATH_REFERRAL_SLA_EMERGENCY_SECONDS=5 and "
                "SAFEPATH_REFERRAL_ESCALATION_INTERVAL_SECONDS=1 to see the escalation."
            )
            return
        self.say(
            f"   {row['provider_id']} stays silent; waiting up to "
            f"{self.escalation_wait:.0f} s for the escalation…"
        )

        async def escalated() -> dict[str, Any] | None:
            rows = await self._case_referrals(r.emergency_case_id, **KHOROG)
            return rows[0] if rows and rows[0]["attempt"] > row["attempt"] else None

        after = await _until(escalated, self.escalation_wait, 0.5)
        if after is None:
            self.say("   not escalated within the wait (is the escalation interval long?)")
            return
        r.escalated = True
        where = after["provider_id"] or f"coordinator {after['coordinator_id']}"
        self.say(f"   escalated: {row['provider_id']} did not answer in time; now with {where}")
        if after["reasons"]:
            self.say(f"   why: {after['reasons']['summary']}")
        await self._show_notifications(r.emergency_referral_id)

    async def transfer_accepted(self) -> None:
        r = self.result
        case_id = r.emergency_case_id
        self.step(8, "Khorog asks the Dushanbe office to take over her case; Dushanbe accepts")
        sender = self.client(self.ep.case_url, "demo-caseworker-khorog", "caseworker", **KHOROG)
        receiver = self.client(
            self.ep.case_url, "demo-caseworker-dushanbe", "caseworker", **DUSHANBE
        )
        async with sender as cw, receiver as other:
            asked = await cw.post(f"/cases/{case_id}/transfer", json={"to_office": "dushanbe"})
            r.transfer_id = _ok(asked, 202)["transfer_id"]
            seen = await other.get(f"/cases/{case_id}", params={"identifying": "false"})
            self.say(
                f"   transfer {r.transfer_id} requested: until Dushanbe accepts, the case stays"
                f" in Khorog (Dushanbe reads it: {seen.status_code}); notify tells the"
                " Dushanbe office (transfer_requested, the case's reference only)"
            )
            waiting = _ok(await other.get("/transfers/incoming"))
            r.transfer_listed = any(t["transfer_id"] == r.transfer_id for t in waiting)
            self.say(
                f"   Dushanbe's list of transfers to answer: {len(waiting)} waiting"
                f"{', this one among them' if r.transfer_listed else ''}"
            )
            path = f"/cases/{case_id}/transfers/{r.transfer_id}/accept"
            _ok(await other.post(path))
            view = _ok(await other.get(f"/cases/{case_id}", params={"identifying": "false"}))
            r.transferred_to = view["office"]
            r.sender_after_transfer = (await cw.get(f"/cases/{case_id}")).status_code
        self.say(
            f"   accepted: the case is now with office {r.transferred_to} (caseworker "
            f"{view['caseworker']}); Khorog reads it: {r.sender_after_transfer}; notify tells"
            " the Khorog caseworker the request was accepted (transfer_accepted, in their"
            " language). Unanswered, a request would have expired after 7 days"
        )

        async def followed() -> list[dict[str, Any]] | None:
            rows = await self._case_referrals(case_id, **DUSHANBE)
            return rows or None

        rows = await _until(followed, self.timeout) or []
        r.referrals_follow_transfer = bool(rows)
        self.say(
            f"   the referral service follows the accepted transfer: Dushanbe now sees"
            f" {len(rows)} referral(s) of the case"
        )

    async def _show_notifications(self, referral_id: str) -> None:
        async with self.client(self.ep.notify_url, "demo-auditor", "auditor") as a:

            async def told() -> list[dict[str, Any]] | None:
                resp = await a.get(f"/referrals/{referral_id}/notifications")
                if resp.status_code != 200:
                    return None
                items: list[dict[str, Any]] = resp.json()["notifications"]
                return items if any(n["template"] == "referral_escalated" for n in items) else None

            items = await _until(told, 5.0) or []
        for n in items:
            self.say(
                f"   told {n['recipient_kind']} {n['recipient_id']}: {n['template']} "
                f"({n['status']})"
            )

    async def auditor_checks(self) -> None:
        r = self.result
        self.step(9, f"An auditor reads case {r.case_id}'s history and verifies the audit chain")
        async with self.client(self.ep.case_url, "demo-auditor", "auditor") as a:
            resp = await a.get(f"/cases/{r.case_id}/history")
            if resp.status_code == 200:
                body = resp.json()
                if isinstance(body, dict):
                    keys = ("items", "entries", "history")
                    body = next((body[k] for k in keys if k in body), [])
                entries = list(body)
                r.history = entries
                for e in entries:
                    self.say(f"   {_describe(e)}")
            else:
                self.say(
                    f"   (GET /cases/{{id}}/history answered {resp.status_code}: this "
                    "system has no history route yet; verifying the chains instead)"
                )
        for svc, base in (
            ("case", self.ep.case_url),
            ("referral", self.ep.referral_url),
            ("notify", self.ep.notify_url),
        ):
            async with self.client(base, "demo-auditor", "auditor") as a:
                resp = await a.get("/audit/verify")
                if resp.status_code != 200:  # say so and check the other services
                    r.audit_ok[svc] = False
                    self.say(f"   {svc:<8} audit verify answered {resp.status_code}")
                    continue
                report = resp.json()
                r.audit_ok[svc] = bool(report["ok"])
                self.say(
                    f"   {svc:<8} audit chain: {'OK' if report['ok'] else 'FAILED'} "
                    f"({report['events']} events, {report['streams']} streams, "
                    f"{report['checkpoints_verified']} signed checkpoints verified)"
                )
                if svc == "case":
                    one = _ok(await a.get("/audit/verify", params={"case": r.case_id}))
                    r.audit_ok["case:" + r.case_id] = bool(one["ok"])
                    self.say(
                        f"            this case's own chain: {'OK' if one['ok'] else 'FAILED'}"
                        f" ({one['events']} events)"
                    )


async def _handover(client: httpx.AsyncClient, url: str) -> dict[str, Any] | None:
    """The handover once the case service has heard of the acceptance (else None)."""
    resp = await client.get(url)
    return dict(resp.json()) if resp.status_code == 200 else None


async def _const(value: Any) -> Any:
    return value


def _event_name(entry: dict[str, Any]) -> str:
    """A history entry's event name (its type is ``org.safepath.<service>.<Name>.v<N>``)."""
    parts = str(entry.get("type", "")).split(".")
    return parts[3] if len(parts) > 3 else ""


def _describe(entry: dict[str, Any]) -> str:
    """One history entry in a line, whatever keys the history route uses."""
    when = entry.get("time") or entry.get("at") or entry.get("recorded_at") or ""
    what = entry.get("type") or entry.get("event") or entry.get("event_type") or ""
    svc = entry.get("service") or ""
    who = entry.get("actor") or ""
    rest = entry.get("summary") or entry.get("description") or ""
    return " ".join(str(x) for x in (when, svc, what, who, rest) if x)


async def run_demo(
    ep: Endpoints,
    token: TokenMaker,
    *,
    say: Say = print,
    escalation_wait: float = 30.0,
    step_wait: float = 20.0,
) -> DemoResult:
    """Play the scenario against the system at ``ep``; ``token(sub, role, **claims)``
    mints the bearer tokens that system accepts."""
    return await Demo(ep, token, say, escalation_wait, step_wait).run()


def endpoints_from_settings(**overrides: str | None) -> Endpoints:
    """The addresses of the system ``make run`` started (``SAFEPATH_*`` settings)."""
    from shared.settings import Settings

    s = Settings()
    base = f"http://{s.host}"
    values: dict[str, Any] = {
        "case_url": f"{base}:{s.case_port}",
        "referral_url": f"{base}:{s.referral_port}",
        "notify_url": f"{base}:{s.notify_port}",
        "nats_url": s.nats_url or f"nats://127.0.0.1:{s.embedded_nats_port}",
        "namespace": s.namespace,
        "nats_auth_dir": str(s.data_dir / "nats-auth"),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Endpoints(**values)


def settings_token_maker() -> TokenMaker:
    from shared.auth import AuthConfig, mint_token
    from shared.settings import Settings

    auth = AuthConfig.from_settings(Settings())

    def make(sub: str, role: str, **claims: Any) -> str:
        return mint_token(auth, sub, role, **claims)

    return make
