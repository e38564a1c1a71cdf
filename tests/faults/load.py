"""A steady flow of cases through the running system, and the invariants it must keep.

``CaseFlow`` opens a few cases a second through the case service's public API (profile,
consent, one referral request of one or two needs), each step retried with the same
``Idempotency-Key`` until it succeeds, so a service that is down or restarting delays a
case but never loses or doubles it. ``Ledger`` reads the JetStream streams back by
sequence (``js.get_msg``) from where they stood when the flow began and counts, for the
flow's own request ids only:

- first routings: one ``ReferralRouted``/``ReferralUnroutable`` with ``attempt`` 1 per
  request and need (and per referral id);
- notifications: one per first routing, to its provider (``new_referral``) or its
  coordinator (``referral_unroutable``), on ``<NS>_NOTIFICATIONS``;
- deliveries: one ``NotificationDelivered`` on the NATS channel per notification (and on
  the webhook channel, for providers with a webhook), on ``<NS>_NOTIFY``.

Events are counted by CloudEvent id, so a message republished on purpose (the duplicate
fault) is one event; an effect done twice has a new id and shows as a duplicate.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from tests.e2e.harness import SERVICES, System

ROUTING = ("ReferralRouted", "ReferralUnroutable")
# (profile, needs) in turn; Khujand trafficking cases send their shelter need to the
# Buston shelter (nearest), the Khorog mine survivor's needs go elsewhere or nowhere.
KINDS: list[tuple[dict[str, Any], list[str]]] = [
    (
        {
            "sex": "female",
            "estimated_age_years": 22,
            "region": "sughd",
            "district": "khujand",
            "categories": ["trafficking"],
        },
        ["shelter"],
    ),
    (
        {
            "sex": "female",
            "estimated_age_years": 27,
            "region": "sughd",
            "district": "khujand",
            "categories": ["trafficking"],
        },
        ["shelter", "medical"],
    ),
    (
        {
            "sex": "male",
            "estimated_age_years": 41,
            "region": "gbao",
            "district": "khorog",
            "categories": ["mine_eo"],
            "disability": True,
        },
        ["prosthetics_orthotics", "psychosocial"],
    ),
]


@dataclass
class Opened:
    case_id: str
    request_id: str
    needs: list[str]


@dataclass
class CaseFlow:
    """Opens ``rate`` cases a second until ``stop()``; ``opened`` are the finished ones."""

    system: System
    rate: float = 3.0
    give_up_after: float = 90.0
    opened: list[Opened] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)  # a case that never got through
    retries: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=20)
        # With several case instances, each request goes to the next live one.
        transport = self.system.transport("case", limits=limits)
        async with httpx.AsyncClient(
            base_url=self.system.url("case"), timeout=10.0, limits=limits, transport=transport
        ) as client:
            i = 0
            while not self._stopping.is_set():
                self._tasks.append(asyncio.create_task(self._open(client, i)))
                i += 1
                try:
                    await asyncio.wait_for(self._stopping.wait(), 1.0 / self.rate)
                except TimeoutError:
                    pass
            await asyncio.gather(*self._tasks)

    def stop(self) -> None:
        self._stopping.set()

    @property
    def started(self) -> int:
        return len(self._tasks)

    async def _open(self, client: httpx.AsyncClient, i: int) -> None:
        profile, needs = KINDS[i % len(KINDS)]
        region = profile["region"]
        headers = self.system.headers(
            "caseworker", f"cw-{region}", region=region, office=f"{region}-office"
        )
        deadline = time.monotonic() + self.give_up_after

        async def post(path: str, body: dict[str, Any], status: int) -> dict[str, Any]:
            key = str(uuid.uuid4())  # one key per write, reused by every retry of it
            last = ""
            while time.monotonic() < deadline:
                try:
                    r = await client.post(
                        path, json=body, headers={**headers, "Idempotency-Key": key}
                    )
                    if r.status_code == status:
                        out: dict[str, Any] = r.json()
                        return out
                    last = f"{r.status_code} {r.text[:200]}"
                except httpx.HTTPError as e:
                    last = type(e).__name__
                self.retries += 1
                await asyncio.sleep(0.5)
            raise TimeoutError(f"{path}: {last}")

        try:
            p = {**profile, "given_name": f"Fault{i}", "language": "tg"}
            body = {"region": region, "categories": p["categories"], "profile": p}
            case_id = (await post("/cases", body, 201))["id"]
            consent = {
                "purpose": "referral",
                "service_types": needs,
                "data_categories": ["needs", "demographics"],
            }
            await post(f"/cases/{case_id}/consents", consent, 200)
            out = await post(
                f"/cases/{case_id}/referrals", {"needs": needs, "urgency": "routine"}, 202
            )
        except TimeoutError as e:
            self.failed.append(str(e))
            return
        self.opened.append(Opened(case_id, out["referral_id"], list(needs)))


class StreamTail:
    """A stream read by sequence from ``first_seq``; later calls read only what is new.
    Messages are kept once per CloudEvent id (republished copies are the same event)."""

    def __init__(self, js: JetStreamContext, stream: str, first_seq: int) -> None:
        self.js, self.stream, self.next_seq = js, stream, first_seq
        self.events: dict[str, tuple[str, dict[str, Any]]] = {}  # ce id -> (subject, ce)
        self.copies = 0  # messages whose CloudEvent id was seen before
        self.seqs: dict[str, list[int]] = defaultdict(list)  # ce id -> every stream seq
        self.msg_ids: Counter[str] = Counter()  # Nats-Msg-Id -> messages carrying it

    @classmethod
    async def from_now(cls, js: JetStreamContext, stream: str) -> StreamTail:
        return cls(js, stream, await last_seq(js, stream) + 1)

    async def read_new(self) -> None:
        last = await last_seq(self.js, self.stream)
        for seq in range(self.next_seq, last + 1):
            try:
                msg = await self.js.get_msg(self.stream, seq=seq)
            except NotFoundError:
                self.next_seq = seq + 1
                continue
            # Progress is kept message by message: a read that fails half-way (NATS down)
            # resumes after the last message it counted, never counting one twice.
            self.next_seq = seq + 1
            try:
                ce = json.loads(msg.data or b"{}")
            except ValueError:
                continue  # a malformed message injected on purpose
            if not isinstance(ce, dict) or not isinstance(ce.get("id"), str):
                continue
            self.seqs[ce["id"]].append(seq)
            self.msg_ids[str((msg.headers or {}).get("Nats-Msg-Id", ""))] += 1
            if ce["id"] in self.events:
                self.copies += 1
            else:
                self.events[ce["id"]] = (msg.subject or "", ce)
        self.next_seq = last + 1

    def named(self, *names: str) -> list[dict[str, Any]]:
        return [ce for _, ce in self.events.values() if event_name(ce) in names]


async def last_seq(js: JetStreamContext, stream: str) -> int:
    try:
        return int((await js.stream_info(stream)).state.last_seq or 0)
    except NotFoundError:
        return 0


def event_name(ce: dict[str, Any]) -> str:
    parts = str(ce.get("type", "")).split(".")
    return parts[3] if len(parts) > 3 else ""


@dataclass
class Verdict:
    expected: int  # (request, need) pairs the flow asked for
    events: int  # distinct events about the flow's cases, on all four streams
    lost: list[str]
    duplicated: list[str]
    routed: dict[str, str]  # referral id -> provider id (first routings)
    unroutable: dict[str, str]  # referral id -> coordinator id
    webhook_delivered: Counter[str]  # notification id -> NotificationDelivered (webhook)
    # Webhook notifications given up on for the receiver's fault and not yet redelivered
    # (only with ``receiver_at_fault``), and the provider_unreachable alerts seen.
    dead_lettered: list[str] = field(default_factory=list)
    alerts: int = 0

    @property
    def clean(self) -> bool:
        return not self.lost and not self.duplicated


class Ledger:
    """The four streams from where they stood when created, checked for one flow."""

    def __init__(self, system: System, js: JetStreamContext) -> None:
        self.system, self.js = system, js
        ns = system.namespace.upper()
        self.names = {
            "case": system.stream("case"),
            "referral": system.stream("referral"),
            "notify": system.stream("notify"),
            "notifications": f"{ns}_NOTIFICATIONS",
        }
        self.tails: dict[str, StreamTail] = {}

    async def start(self) -> Ledger:
        for key, stream in self.names.items():
            self.tails[key] = await StreamTail.from_now(self.js, stream)
        return self

    async def read(self) -> None:
        for tail in self.tails.values():
            await tail.read_new()

    def verdict(
        self,
        opened: list[Opened],
        *,
        webhook_providers: frozenset[str] = frozenset(),
        receiver_at_fault: Callable[[str], bool] | None = None,
    ) -> Verdict:
        """What the flow lost and doubled. ``receiver_at_fault(notification_id)``: whether
        a webhook notification given up on (``NotificationFailed``) was given up on for
        the receiver's fault (every POST answered too late); such a notification is
        dead-lettered by design, not lost: its ``provider_unreachable`` alerts to the
        coordinators are expected, and it must be delivered once after an operator's
        redelivery. Without it, every ``NotificationFailed`` is lost."""
        case_ids = {o.case_id for o in opened}
        requests = {o.request_id for o in opened}
        expected = {(o.request_id, need) for o in opened for need in o.needs}
        lost: list[str] = []
        dup: list[str] = []

        case_events = [
            ce for _, ce in self.tails["case"].events.values() if ce.get("subject") in case_ids
        ]
        referral_events = [
            ce
            for _, ce in self.tails["referral"].events.values()
            if ce.get("data", {}).get("case_id") in case_ids
        ]
        firsts = [
            ce["data"]
            for ce in referral_events
            if event_name(ce) in ROUTING
            and ce["data"].get("request_id") in requests
            and ce["data"].get("attempt") == 1
        ]
        per_need = Counter((d["request_id"], d["need"]) for d in firsts)
        lost += [f"no routing for {r} {n}" for r, n in sorted(expected - set(per_need))]
        dup += [f"{c} first routings for {k}" for k, c in per_need.items() if c > 1]
        per_referral = Counter(d["referral_id"] for d in firsts)
        dup += [f"{c} first routings of referral {r}" for r, c in per_referral.items() if c > 1]
        routed = {d["referral_id"]: d["provider_id"] for d in firsts if "provider_id" in d}
        unroutable = {
            d["referral_id"]: d["coordinator_id"] for d in firsts if "coordinator_id" in d
        }

        # One notification per first routing, to the right recipient.
        ns = self.system.namespace
        told: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        for subject, ce in self.tails["notifications"].events.values():
            rid = str(ce.get("subject", ""))
            if rid in per_referral:
                told[rid].append((ce["id"], subject, ce.get("data", {}).get("kind", "")))
        want: dict[str, tuple[str, str]] = {
            rid: (f"{ns}.provider.{p}.notifications", "new_referral") for rid, p in routed.items()
        }
        want |= {
            rid: (f"{ns}.coordinator.{c}.notifications", "referral_unroutable")
            for rid, c in unroutable.items()
        }
        notification_ids: dict[str, str] = {}  # notification id -> referral id
        # A provider given up on: the coordinators are told (checked below).
        alerts: dict[str, list[tuple[str, str, str]]] = {}
        for rid, (subject, kind) in want.items():
            mine = [t for t in told.get(rid, []) if (t[1], t[2]) == (subject, kind)]
            if not mine:
                lost.append(f"no {kind} notification for referral {rid}")
            elif len(mine) > 1:
                dup.append(f"{len(mine)} {kind} notifications for referral {rid}")
            for nid, _, _ in mine:
                notification_ids[nid] = rid
            others = [t for t in told.get(rid, []) if (t[1], t[2]) != (subject, kind)]
            alerts[rid] = [t for t in others if t[2] == "provider_unreachable"]
            dup += [
                f"unexpected notification {t[1]} {t[2]} for {rid}"
                for t in others
                if t[2] != "provider_unreachable"
            ]

        # One NotificationDelivered per notification and channel (nats always).
        notify_events = [
            ce
            for _, ce in self.tails["notify"].events.values()
            if ce.get("data", {}).get("notification_id") in notification_ids
            or ce.get("data", {}).get("case_id") in case_ids
        ]
        delivered: dict[str, Counter[str]] = defaultdict(Counter)
        failed: dict[str, list[dict[str, Any]]] = defaultdict(list)  # webhook give-ups
        redelivered: Counter[str] = Counter()
        for ce in notify_events:
            d, name = ce["data"], event_name(ce)
            if name == "NotificationDelivered":
                delivered[d["channel"]][d["notification_id"]] += 1
            elif name == "NotificationFailed":
                failed[d["notification_id"]].append(d)
            elif name == "NotificationRedeliveryRequested":
                redelivered[d["notification_id"]] += 1
        dead_lettered: list[str] = []  # given up on for the receiver's fault, not redelivered
        for nid, gave_up in failed.items():
            excused = (
                receiver_at_fault is not None
                and receiver_at_fault(nid)
                and all(d.get("channel") == "webhook" for d in gave_up)
            )
            if not excused:
                lost += [f"notification failed: {d}" for d in gave_up]
            elif len(gave_up) > redelivered[nid]:
                dead_lettered.append(nid)
        for nid, rid in notification_ids.items():
            n = delivered["nats"][nid]
            if n == 0:
                lost.append(f"notification {nid} (referral {rid}) never delivered on NATS")
            elif n > 1:
                dup.append(f"notification {nid} delivered {n} times on NATS")
            provider = routed.get(rid)
            if provider in webhook_providers:
                w = delivered["webhook"][nid]
                if w == 0 and nid not in dead_lettered:
                    lost.append(f"notification {nid} never delivered by webhook")
                elif w > 1:
                    dup.append(f"notification {nid} delivered {w} times by webhook")

        # An alert only for a notification given up on, once per coordinator and give-up.
        gave_up = {rid: len(failed.get(nid, [])) for nid, rid in notification_ids.items()}
        for rid, found in alerts.items():
            per_coordinator = Counter(subject for _, subject, _ in found)
            for subject, count in per_coordinator.items():
                if count > gave_up.get(rid, 0):
                    dup.append(
                        f"{count} provider_unreachable alerts on {subject} for referral"
                        f" {rid}, given up on {gave_up.get(rid, 0)} time(s)"
                    )
        notifications = [
            ce
            for _, ce in self.tails["notifications"].events.values()
            if ce.get("subject") in per_referral
        ]
        events = len(case_events) + len(referral_events) + len(notify_events) + len(notifications)
        return Verdict(
            expected=len(expected),
            events=events,
            lost=lost,
            duplicated=dup,
            routed=routed,
            unroutable=unroutable,
            webhook_delivered=delivered["webhook"],
            dead_lettered=dead_lettered,
            alerts=sum(len(found) for found in alerts.values()),
        )

    async def settle(
        self,
        opened: list[Opened],
        within: float,
        *,
        webhook_providers: frozenset[str] = frozenset(),
        receiver_at_fault: Callable[[str], bool] | None = None,
        quiet: float = 2.0,
    ) -> tuple[Verdict, float]:
        """Read until nothing is lost (or ``within`` passes), then ``quiet`` seconds more so
        that a late duplicate would show; the verdict and the seconds it took to settle."""
        start = time.monotonic()
        while True:
            await self.read()
            v = self.verdict(
                opened, webhook_providers=webhook_providers, receiver_at_fault=receiver_at_fault
            )
            if not v.lost or time.monotonic() - start > within:
                break
            await asyncio.sleep(0.5)
        took = time.monotonic() - start
        await asyncio.sleep(quiet)
        await self.read()
        verdict = self.verdict(
            opened, webhook_providers=webhook_providers, receiver_at_fault=receiver_at_fault
        )
        return verdict, took


async def audit_chains_verify(system: System) -> dict[str, Any]:
    """``GET /audit/verify`` as auditor on each service: service -> report (``ok`` inside)."""
    out: dict[str, Any] = {}
    for svc in SERVICES:
        async with system.client(svc, "auditor", timeout=60.0) as auditor:
            r = await auditor.get("/audit/verify")
        out[svc] = r.json() if r.status_code == 200 else {"ok": False, "status": r.status_code}
    return out
