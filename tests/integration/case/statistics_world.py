"""Generated worlds for the statistics tests: cases with profiles, identification,
closures and referrals whose lifecycle the referral service would report, written as live
(the case events through the append's projections, the referral events through the case
service's consumer handler), and an independent recount of what the statistics must say.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from hypothesis import strategies as st

from services.case.app.projection import project as project_summary
from services.case.app.statistics.model import project as project_statistics
from services.case.app.timeline import apply_referral_event, record_own_events
from shared.envelope import Actor, Envelope
from shared.events.base import Event
from shared.events.case import (
    CaseClosed,
    ConsentScope,
    IdentificationRecorded,
    ReferralRequested,
    SurvivorProfileUpdated,
)
from shared.events.case_facts import MineFacts, RefugeeFacts, TraffickingFacts
from shared.events.case_person import (
    CASUALTY_PREFIX,
    AssistiveDeviceRecorded,
    CasualtyCorrected,
    CasualtyLinked,
    CasualtyRecorded,
)
from shared.events.case_reflection import (
    ReflectionPeriodEnded,
    ReflectionPeriodExtended,
    ReflectionPeriodStarted,
)
from shared.eventstore import EventStore, NewEvent
from tests.unit.case.builders import opened, profiled, sealed

ACTOR = Actor(sub="caseworker-1", role="caseworker")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DISTRICT = {"sughd": "khujand", "khatlon": "kulob", "gbao": "khorog"}
PROVIDER_TYPES = {"p1": "ngo", "p2": "government"}  # p3 is not in the directory
PATHS: tuple[tuple[str, ...], ...] = (
    (),
    ("routed:p1",),
    ("routed:p1", "accepted", "service_started", "service_completed"),
    ("routed:p2", "declined", "routed:p1", "accepted", "service_started"),
    ("unroutable",),
    ("routed:p3", "escalated", "routed:p1", "accepted"),
    ("routed:p1", "accepted", "withdrawn"),
    ("assigned:p2", "routed:p2", "accepted", "service_started", "service_completed"),  # by hand
    ("routed:p1", "accepted", "service_started", "outcome_recorded"),  # issue 13: completes it
    ("unroutable", "unmet"),  # issue 13: the coordinator decides no provider exists
)
NAMES = {
    "routed": "ReferralRouted",
    "unroutable": "ReferralUnroutable",
    "accepted": "ReferralAccepted",
    "declined": "ReferralDeclined",
    "escalated": "ReferralEscalated",
    "service_started": "ServiceStarted",
    "service_completed": "ServiceCompleted",
    "withdrawn": "ReferralWithdrawn",
    "assigned": "ReferralAssignedByHand",
    "outcome_recorded": "ServiceOutcomeRecorded",
    "unmet": "ReferralClosedUnmet",
}

need_st = st.fixed_dictionaries(
    {
        "path": st.sampled_from(PATHS),
        "gaps": st.lists(st.integers(1, 400), min_size=6, max_size=6),
    }
)
case_st = st.fixed_dictionaries(
    {
        "region": st.sampled_from(sorted(DISTRICT)),
        "categories": st.sampled_from(
            [["trafficking"], ["mine_eo"], ["trafficking", "refugee_asylum"]]
        ),
        "profile": st.none()
        | st.fixed_dictionaries(
            {
                "sex": st.sampled_from(["female", "male", "unknown"]),
                "age_band": st.sampled_from(["12-17", "18-24", "40-59"]),
                "disability": st.booleans(),
                "citizenship_status": st.sampled_from(["citizen", "foreign_national"]),
                "with_district": st.booleans(),
                "region": st.none() | st.sampled_from(sorted(DISTRICT)),
                "victim": st.none() | st.sampled_from(["direct", "indirect"]),  # mine_eo only
            }
        ),
        "identification": st.none() | st.sampled_from(["presumed", "identified"]),
        "opened_day": st.integers(0, 200),
        "close_after_days": st.none() | st.integers(1, 90),
        "needs": st.dictionaries(
            st.sampled_from(["shelter", "medical", "psychosocial"]), need_st, max_size=2
        ),
    }
)
world_st = st.lists(case_st, min_size=1, max_size=14)


@dataclass
class Case:
    """A generated case as the recount sees it: dimension changes and facts, timed."""

    id: str
    opened_at: datetime
    changes: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)
    referrals: dict[str, dict[str, Any]] = field(default_factory=dict)  # need -> facts
    reflection: list[tuple[datetime, str]] = field(default_factory=list)  # (at, stage)
    devices: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, device, action)
    assigned: list[tuple[datetime, str, str]] = field(default_factory=list)  # (at, need, provider)

    def as_of(self, t: datetime | None) -> dict[str, Any]:
        state: dict[str, Any] = {}
        for at, change in self.changes:
            if t is None or at < t:
                state.update(change)
        return state


@dataclass
class World:
    cases: list[Case] = field(default_factory=list)
    killed: list[tuple[datetime, dict[str, Any]]] = field(default_factory=list)  # records


def _request(need: list[str], referral_id: str) -> ReferralRequested:
    return ReferralRequested(
        referral_id=referral_id,
        needs=need,  # type: ignore[arg-type]
        urgency="routine",
        categories=["trafficking"],
        region="sughd",
        district=None,
        sex="female",
        age_band="18-24",
        language="tg",
        disability=False,
        consent=ConsentScope(
            consent_id="consent-1",
            service_types=["shelter"],
            provider_ids=[],
            data_categories=["needs", "demographics"],
            expires_at=None,
        ),
        emergency_without_consent=False,
        emergency_reason=None,
        note=None,
        office=None,
        caseworker="cw-dilnoza",
    )


async def _append(
    pool: asyncpg.Pool, store: EventStore, case_id: str, version: int, e: Event, at: datetime
) -> int:
    async with pool.acquire() as conn, conn.transaction():
        stored = await store.append(case_id, version, [NewEvent(e, ACTOR, "t", occurred_at=at)],
                                    conn=conn)  # fmt: skip
        await project_summary(conn, stored)
        await project_statistics(conn, stored)
        await record_own_events(conn, stored)
    return version + 1


_seq = iter(range(1, 10**9))
_VARIETY = iter(range(10**9))  # the category facts' variety (write_world)


async def receive(pool: asyncpg.Pool, name: str, data: dict[str, Any], at: datetime) -> None:
    """A referral-service event arriving at the case service's consumer."""
    env = Envelope(
        id=str(uuid.uuid4()),
        source="safepath/referral",
        type=f"org.safepath.referral.{name}.v1",
        subject=str(data.get("referral_id", "directory")),
        time=at,
        dataschema="urn:test",
        streamversion=next(_seq),
        correlationid="t",
        actor="service:referral",
        data=data,
    )
    async with pool.acquire() as conn, conn.transaction():
        await apply_referral_event(conn, env, None)  # type: ignore[arg-type]


async def register_providers(pool: asyncpg.Pool) -> None:
    for pid, org_type in PROVIDER_TYPES.items():
        await receive(pool, "ProviderRegistered", {"provider": {"id": pid, "org_type": org_type}},
                      T0)  # fmt: skip


async def write_world(pool: asyncpg.Pool, spec: list[dict[str, Any]]) -> World:
    store = EventStore(pool, "case")
    world = World()
    for c in spec:
        case_id = str(uuid.uuid4())
        at = T0 + timedelta(days=c["opened_day"], minutes=7)
        case = Case(case_id, at)
        region = c["region"]
        v = await _append(pool, store, case_id, 0, opened(region=region, office=None,
                          categories=c["categories"]), at)  # fmt: skip
        case.changes.append((at, {"region": region, "categories": c["categories"],
                                  "status": "open"}))  # fmt: skip
        p = c["profile"]
        if p is not None:
            pregion = p["region"] or region
            district = DISTRICT[pregion] if p["with_district"] else None
            mine = None
            if "mine_eo" in c["categories"] and p["victim"] is not None:
                mine = MineFacts(
                    victim=p["victim"], outcome="injured" if p["victim"] == "direct" else "killed",
                    incident_district=DISTRICT[region], incident_year=2024,
                    device_type="unexploded_ordnance",
                )  # fmt: skip
            # issue 14's trafficking and refugee facts, varied case after case (whatever
            # worlds hypothesis draws): recorded or not, each field set or not
            n, trafficking, refugee = next(_VARIETY), None, None
            scope = (None, "internal", "cross_border")[n % 3]
            channel = (None, "job_offer", "online", "unknown")[n % 4]
            stage = (None, "registered", "applied")[n % 3]
            later = (None, "interviewed", "recognised")[n // 3 % 3]  # a later update's stage
            forms = ([], ["forced_labour"], ["sexual", "forced_labour"], ["forced_begging"])[
                n // 2 % 4
            ]
            if "trafficking" in c["categories"] and n % 5:
                trafficking = TraffickingFacts(scope=scope, recruitment_channel=channel,
                    exploitation_forms=forms, exploitation_country="RU",
                )  # fmt: skip
            if "refugee_asylum" in c["categories"] and n % 5 != 1:
                refugee = RefugeeFacts(procedure_stage=stage, country_of_origin="AF")
            fields = dict(
                sex=p["sex"], age_band=p["age_band"], disability=p["disability"],
                citizenship_status=p["citizenship_status"], region=pregion, district=district,
                categories=c["categories"], mine_eo=mine, trafficking=trafficking,
                refugee_asylum=refugee,
            )  # fmt: skip
            e = profiled(**fields)
            v = await _append(pool, store, case_id, v, e, at)
            # 'none': no facts of the category recorded; 'unknown': recorded, not this one
            facts_change = {
                "trafficking_scope": "none" if trafficking is None else scope or "unknown",
                "recruitment_channel": "none" if trafficking is None else channel or "unknown",
                "procedure_stage": "none" if refugee is None else stage or "unknown",
                "exploitation_forms": ["none"] if trafficking is None else forms or ["unknown"],
            }
            change = {"region": pregion, "district": district or "unknown", "sex": p["sex"],
                      "age_band": p["age_band"], "disability": "yes" if p["disability"] else "no",
                      "nationality_group": p["citizenship_status"], **facts_change}  # fmt: skip
            if mine is not None:
                change |= {"victim": mine.victim, "casualty": mine.outcome, "incident_year": "2024",
                           "device_type": mine.device_type,
                           "incident_district": DISTRICT[region]}  # fmt: skip
            case.changes.append((at, change))
            if c["opened_day"] % 2 == 0:  # a device fitted (issue 14), counted by #35
                t = at + timedelta(days=4)
                e = AssistiveDeviceRecorded(device_id="d-1", device="crutches_or_walking_aid",
                                            action="fitted", on=t.date())  # fmt: skip
                v = await _append(pool, store, case_id, v, e, t)
                case.devices.append((t, "crutches_or_walking_aid", "fitted"))
        if c["identification"]:
            t = at + timedelta(days=1)
            e = IdentificationRecorded(
                status=c["identification"], basis="indicators_present", deciding_agency="police"
            )
            v = await _append(pool, store, case_id, v, e, t)
            case.changes.append((t, {"identification": c["identification"]}))
        if c["needs"]:
            t = at + timedelta(days=2)
            request = str(uuid.uuid4())
            v = await _append(pool, store, case_id, v, _request(sorted(c["needs"]), request), t)
            for need, n in sorted(c["needs"].items()):
                rid = str(uuid.uuid5(uuid.UUID(request), need))
                facts: list[tuple[datetime, str, str | None]] = [(t, "requested", None)]
                when, attempt = t, 0
                for step, gap in zip(n["path"], n["gaps"], strict=False):
                    when = when + timedelta(hours=gap)
                    kind, _, provider = step.partition(":")
                    data: dict[str, Any] = {"referral_id": rid, "case_id": case_id}
                    if kind in ("routed", "unroutable"):
                        attempt += 1
                        data.update(need=need, attempt=attempt, request_id=request)
                    if kind == "routed":
                        data["provider_id"] = provider
                    elif kind in ("accepted", "declined", "escalated", "service_started",
                                  "service_completed", "outcome_recorded"):  # fmt: skip
                        provider = _last_provider(facts)
                        data["provider_id"] = provider
                    if kind == "declined":
                        data["reason_code"] = "no_capacity"
                    if kind == "outcome_recorded":
                        data.update(outcome="partly_delivered", reason_code="person_moved")
                    if kind == "assigned":  # no lifecycle step: kept apart from the facts
                        data.update(provider_id=provider, reason_code="other",
                                    assigned_by="coordinator-1", overridden=[])  # fmt: skip
                        await receive(pool, NAMES[kind], data, when)
                        case.assigned.append((when, need, provider))
                        continue
                    if kind == "withdrawn":
                        data["cause"] = "case_closed"
                    if kind == "unmet":
                        data.update(need=need, reason_code="no_provider_in_region",
                                    decided_by="coordinator-1", coordinator_id=None)  # fmt: skip
                    await receive(pool, NAMES[kind], data, when)
                    facts.append((when, kind, provider or None))
                case.referrals[need] = {"rid": rid, "facts": facts}
        if c["identification"] == "presumed":  # as the case domain decides it
            t = at + timedelta(days=3)
            e = ReflectionPeriodStarted(started_at=t, ends_at=t + timedelta(days=30), days=30)
            v = await _append(pool, store, case_id, v, e, t)
            case.reflection.append((t, "started"))
            if c["opened_day"] % 2:
                t += timedelta(hours=5)
                e = ReflectionPeriodExtended(
                    ends_at=t + timedelta(days=45),
                    added_days=15,
                    reason_code="safety_risk",
                    extended_by="sup-1",
                )
                v = await _append(pool, store, case_id, v, e, t)
                case.reflection.append((t, "extended"))
        if c["close_after_days"] is not None:
            t = at + timedelta(days=c["close_after_days"], hours=1)
            v = await _append(pool, store, case_id, v, CaseClosed(reason="lost_contact"), t)
            case.changes.append((t, {"status": "closed"}))
            if case.reflection:
                ended = ReflectionPeriodEnded(outcome="case_closed")
                v = await _append(pool, store, case_id, v, ended, t)
                case.reflection.append((t, "ended"))
        if p is not None and refugee is not None and later is not None:
            t = at + timedelta(days=95)  # after the closing; before a casualty link
            moved = refugee.model_copy(update={"procedure_stage": later})
            e = SurvivorProfileUpdated(
                profile=profiled(**fields | {"refugee_asylum": moved}).profile
            )
            v = await _append(pool, store, case_id, v, e, t)
            case.changes.append((t, {"procedure_stage": later}))
        world.cases.append(case)
        if "mine_eo" in c["categories"] and c["opened_day"] % 3 == 0:
            record_id, (record_at, record) = await _record_killed(pool, store, c, at)
            world.killed.append((record_at, record))
            if c["opened_day"] % 9:  # most: the case's person is family of the person killed
                t = at + timedelta(days=100)  # after every other event of the case
                e = CasualtyLinked(casualty_id=record_id, relation="parent")
                v = await _append(pool, store, case_id, v, e, t)
                linked = {k: record[k] for k in ("device_type", "incident_year",
                                                 "incident_district")}  # fmt: skip
                case.changes.append((t, {"relative_killed": linked | {
                    "victim": "indirect", "casualty": "killed"}}))  # fmt: skip
    return world


async def _record_killed(
    pool: asyncpg.Pool, store: EventStore, c: dict[str, Any], at: datetime
) -> tuple[str, tuple[datetime, dict[str, Any]]]:
    """A person killed in the case's region: a casualty record, no survivor case."""
    district = DISTRICT[c["region"]]
    year = 2020 + c["opened_day"] % 4
    e = CasualtyRecorded(
        identifying=sealed("a person killed"), sex="male", age_band="25-39",
        region=c["region"], incident_district=district, incident_year=year,
        device_type="anti_personnel_mine", office=None, caseworker="cw-1",
    )  # fmt: skip
    record_id = f"{CASUALTY_PREFIX}{uuid.uuid4()}"
    v = await _append(pool, store, record_id, 0, e, at)
    device = "anti_personnel_mine"
    if c["opened_day"] % 4 in (0, 3):  # corrected (issue 14): counted as corrected
        device, year = "unexploded_ordnance", year - 1
        fixed = CasualtyCorrected(
            identifying=sealed("a person killed"), sex="male", age_band="25-39",
            incident_district=district, incident_year=year, device_type=device,
            corrected_by="sup-1",
        )  # fmt: skip
        await _append(pool, store, record_id, v, fixed, at)
    return record_id, (at, {
        "region": c["region"], "district": district, "incident_district": district,
        "sex": "male", "age_band": "25-39", "casualty": "killed", "victim": "direct",
        "device_type": device, "incident_year": str(year),
        "categories": ["mine_eo"], "status": "casualty_record",
    })  # fmt: skip


def _last_provider(facts: list[tuple[datetime, str, str | None]]) -> str | None:
    return next((p for _, k, p in reversed(facts) if p), None)


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every node of a plan given by ``EXPLAIN (FORMAT JSON)``, depth first."""
    yield plan
    for child in plan.get("Plans", ()):
        yield from plan_nodes(child)
