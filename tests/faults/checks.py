"""Checks beyond ``Ledger.verdict`` for the replica and nemesis tests.

``Ledger.verdict`` counts effects (routings, notifications, deliveries): nothing lost,
nothing doubled. These add what several instances of a service, or a random mix of
faults, could break without changing those counts:

- **once on the stream**: every event of the flow is on its JetStream stream exactly once
  (one message per CloudEvent id, one message per ``Nats-Msg-Id``, and the
  ``Nats-Msg-Id`` is the event id). Two relays, or a relay that resends after a crash
  beyond the stream's duplicate window, would put an event there twice.
- **per-case order on the streams**: the events of each event-store stream about the
  flow's cases (the case itself, its referrals, its notifications) appear on JetStream
  in version order (strictly increasing ``streamversion`` by stream sequence), and a
  stream first seen at version 1 has no gap.
- **per-case order in the effects**: each consumer applied the events of one stream in
  version order. Read from the consumers' ``inbox`` tables, one row per applied event,
  written by the transaction that applied it: its ``xmin`` (that transaction's id, given
  out in increasing order at its first write) orders the applications. An event applied
  after a newer event of its own stream (a late redelivery to a second instance, an
  ``ack_wait`` redelivery after a kill) has a larger id than the newer one. (Not
  ``handled_at``: that is when the transaction began, and a transaction may begin, be
  paused, and apply its event after another that began later.)
- **audits**: every service's ``GET /audit/verify`` is ``ok`` (hash chains, checkpoint
  signatures, checkpoint consistency) and at least one signed checkpoint was verified.

Only events about the flow's own cases are checked, so tests can share a system.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.e2e.harness import SERVICES, System
from tests.faults.load import Ledger, Opened, event_name

AGGREGATE_STREAMS = ("case", "referral", "notify")  # event-store streams on JetStream


@dataclass
class Checks:
    stream_copies: list[str] = field(default_factory=list)  # an event on its stream twice
    stream_gaps: list[str] = field(default_factory=list)  # a version missing on the stream
    stream_order: list[str] = field(default_factory=list)  # versions out of order (JetStream)
    effect_order: list[str] = field(default_factory=list)  # versions applied out of order
    audits: dict[str, Any] = field(default_factory=dict)
    audit_problems: dict[str, Any] = field(default_factory=dict)
    applied: int = 0  # inbox rows about the flow's events (every consumer)

    @property
    def order_violations(self) -> int:
        return len(self.stream_order) + len(self.effect_order)

    @property
    def doubled(self) -> int:
        return len(self.stream_copies)

    @property
    def lost(self) -> int:
        return len(self.stream_gaps)

    def failures(self) -> dict[str, list[str] | dict[str, Any]]:
        out: dict[str, list[str] | dict[str, Any]] = {}
        for name in ("stream_copies", "stream_gaps", "stream_order", "effect_order"):
            found: list[str] = getattr(self, name)
            if found:
                out[name] = found[:10]
        if self.audit_problems:
            out["audits"] = self.audit_problems
        return out


def flow_events(ledger: Ledger, opened: list[Opened]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per ledger key (case, referral, notify, notifications): CloudEvent id -> event, for
    the events about the flow's cases (with every event of their event-store streams)."""
    case_ids = {o.case_id for o in opened}

    def about(ce: dict[str, Any]) -> bool:
        data = ce.get("data")
        return ce.get("subject") in case_ids or (
            isinstance(data, dict) and data.get("case_id") in case_ids
        )

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in AGGREGATE_STREAMS:
        tail = ledger.tails[key]
        streams = {ce.get("subject") for _, ce in tail.events.values() if about(ce)}
        out[key] = {i: ce for i, (_, ce) in tail.events.items() if ce.get("subject") in streams}
    # The notifications stream: one message per notification, subject = the referral id.
    referrals = {
        ce["data"].get("referral_id")
        for ce in out["referral"].values()
        if isinstance(ce.get("data"), dict)
    }
    referrals |= {ce.get("subject") for ce in out["referral"].values()}
    out["notifications"] = {
        i: ce
        for i, (_, ce) in ledger.tails["notifications"].events.items()
        if ce.get("subject") in referrals
    }
    return out


def stream_checks(ledger: Ledger, events: dict[str, dict[str, dict[str, Any]]]) -> Checks:
    """Once on the stream, and per-stream version order on JetStream."""
    checks = Checks()
    for key, mine in events.items():
        tail = ledger.tails[key]
        for ce_id in mine:
            seqs = tail.seqs.get(ce_id, [])
            if len(seqs) > 1:
                checks.stream_copies.append(f"{key}: event {ce_id} at seqs {seqs}")
            if tail.msg_ids[ce_id] != len(seqs):
                checks.stream_copies.append(
                    f"{key}: event {ce_id} in {len(seqs)} message(s),"
                    f" {tail.msg_ids[ce_id]} with it as Nats-Msg-Id"
                )
        if key not in AGGREGATE_STREAMS:
            continue
        per_stream: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
        for ce_id, ce in mine.items():
            version = ce.get("streamversion")
            if isinstance(version, int):
                first = tail.seqs[ce_id][0]
                per_stream[str(ce.get("subject"))].append((first, version, event_name(ce)))
        for stream_id, found in per_stream.items():
            found.sort()
            versions = [v for _, v, _ in found]
            if versions != sorted(versions) or len(set(versions)) != len(versions):
                checks.stream_order.append(
                    f"{key} stream {stream_id}: versions {versions} in stream order"
                    f" ({', '.join(n for _, _, n in found)})"
                )
            elif versions and versions[0] == 1 and versions != list(range(1, len(versions) + 1)):
                checks.stream_gaps.append(f"{key} stream {stream_id}: versions {versions}")
    return checks


async def effect_order(
    system: System, events: dict[str, dict[str, dict[str, Any]]], checks: Checks
) -> None:
    """Each consumer applied each stream's events in version order (``inbox.handled_at``)."""
    where: dict[str, tuple[str, str, int]] = {}  # event id -> (source, stream id, version)
    for key in AGGREGATE_STREAMS:
        for ce_id, ce in events[key].items():
            if isinstance(ce.get("streamversion"), int):
                where[ce_id] = (key, str(ce.get("subject")), ce["streamversion"])
    if not where:
        return
    conn = await asyncpg.connect(system.database_url)
    try:
        rows: list[tuple[str, str, str, int, datetime]] = []
        for schema in SERVICES:
            found = await conn.fetch(
                "SELECT consumer, event_id::text AS id, xmin::text::bigint AS tx, handled_at"
                f' FROM "{schema}".inbox WHERE event_id = ANY($1::uuid[])',
                list(where),
            )
            rows += [(schema, r["consumer"], r["id"], r["tx"], r["handled_at"]) for r in found]
    finally:
        await conn.close()
    checks.applied = len(rows)
    applied: dict[tuple[str, str, str], list[tuple[int, int, datetime]]] = defaultdict(list)
    for schema, consumer, ce_id, tx, at in rows:
        source, stream_id, version = where[ce_id]
        applied[(f"{schema}/{consumer}", source, stream_id)].append((version, tx, at))
    checks.effect_order += order_violations(applied)


def order_violations(
    applied: dict[tuple[str, str, str], list[tuple[int, int, datetime]]],
) -> list[str]:
    """``(consumer, source, stream id)`` -> ``(version, transaction id, handled_at)`` of
    each applied event: every pair applied in the wrong order."""
    out = []
    for (consumer, source, stream_id), found in applied.items():
        found = sorted(found)
        for (v1, x1, t1), (v2, x2, t2) in pairwise(found):
            if x2 < x1:
                out.append(
                    f"{consumer}: {source} stream {stream_id} version {v1} applied after"
                    f" version {v2} (transactions {x1} > {x2}, began"
                    f" {(t1 - t2).total_seconds():+.3f} s apart)"
                )
    return out


async def audits_verify(system: System, checks: Checks) -> None:
    """``GET /audit/verify`` as auditor on each service (any instance)."""
    for svc in SERVICES:
        async with system.client(svc, "auditor", timeout=60.0) as auditor:
            r = await auditor.get("/audit/verify")
        report = r.json() if r.status_code == 200 else {"ok": False, "status": r.status_code}
        checks.audits[svc] = report
        if report.get("ok") is not True or not report.get("checkpoints_verified"):
            checks.audit_problems[svc] = report


async def check_all(system: System, ledger: Ledger, opened: list[Opened]) -> Checks:
    """Every check above, for the flow's cases (after ``ledger.settle``)."""
    events = flow_events(ledger, opened)
    checks = stream_checks(ledger, events)
    await effect_order(system, events, checks)
    await audits_verify(system, checks)
    return checks


SUMMARY_FILE = "SAFEPATH_FAULTS_SUMMARY"  # env: a file every summary line is appended to


def emit(config: pytest.Config, text: str) -> None:
    """Print ``text`` past pytest's capture (so ``-q`` runs show it at once) and append it
    to the file named by ``$SAFEPATH_FAULTS_SUMMARY``, if set (``make test-faults-soak``)."""
    capture = config.pluginmanager.getplugin("capturemanager")
    cm = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with cm:
        print("\n" + text, flush=True)
    if path := os.environ.get(SUMMARY_FILE):
        with Path(path).open("a", encoding="utf-8") as f:
            f.write(text + "\n")
