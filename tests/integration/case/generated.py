"""A generated case store: hundreds of cases, every case event type, written as live.

Each append runs as the service runs it: in its own transaction, with the live projection
(``project``: one guarded statement per event) applied in that transaction. Cases are
interleaved at random (seeded), some appends carry several events, some streams are access
streams (``CaseAccessed``) and one stream has no ``CaseOpened``, so a rebuild meets every
path of the projection.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from services.case.app.projection import project
from shared.envelope import Actor
from shared.events.base import Event
from shared.events.case import (
    CaseAccessed,
    CaseClosed,
    CaseNoteAdded,
    CaseReopened,
    CaseTransferred,
    ConsentScope,
    ConsentWithdrawn,
    IdentificationRecorded,
    IdentityErased,
    NeedsAssessed,
    ReferralRequested,
    SurvivorProfileUpdated,
)
from shared.eventstore import EventStore, NewEvent
from tests.unit.case.builders import consent_given, opened, profile, profiled, sealed

ACTOR = Actor(sub="caseworker-1", role="caseworker")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
REGIONS = {"sughd": "khujand", "khatlon": "kulob", "gbao": "khorog", "drs": "rasht"}


def _later_event(rng: random.Random, n: int) -> Event:
    """One event that may follow a case's opening (the projection judges each by type)."""
    kind = rng.randrange(12)
    region = rng.choice(sorted(REGIONS))
    if kind == 0:
        return profiled(region=region, district=REGIONS[region], categories=["mine_eo"])
    if kind == 1:
        cats = rng.choice([["trafficking"], ["refugee_asylum", "trafficking"]])
        return SurvivorProfileUpdated(
            profile=profile(region=region, district=None, categories=cats)
        )
    if kind == 2:
        return NeedsAssessed(needs=["shelter", "medical"], note=sealed("needs"))
    if kind == 3:
        return IdentificationRecorded(
            status="presumed", basis="indicators_present", deciding_agency="police"
        )
    if kind == 4:
        return consent_given(f"consent-{n}")
    if kind == 5:
        return ConsentWithdrawn(consent_id=f"consent-{n}")
    if kind == 6:
        return ReferralRequested(
            referral_id=str(uuid.UUID(int=rng.getrandbits(128))),
            needs=["shelter"],
            urgency="routine",
            categories=["trafficking"],
            region="sughd",
            district="khujand",
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
            office="khujand-nrm",
            caseworker="cw-dilnoza",
        )
    if kind == 7:
        return CaseClosed(reason="lost_contact")
    if kind == 8:
        return CaseReopened(reason="new_needs")
    if kind == 9:
        return CaseTransferred(
            from_caseworker="cw-dilnoza",
            to_caseworker=f"cw-{rng.randrange(5)}",
            from_office="khujand-nrm",
            to_office=rng.choice([None, "bokhtar-nrm"]),
        )
    if kind == 10:
        return IdentityErased(erased_by="sup-1", reason_code="survivor_request")
    return CaseNoteAdded(note_id=f"n{n}", note=sealed("note"))


async def _append_live(
    pool: asyncpg.Pool,
    store: EventStore,
    stream: str,
    version: int,
    events: list[Event],
    at: datetime,
) -> None:
    new = [NewEvent(e, ACTOR, "generated", occurred_at=at) for e in events]
    async with pool.acquire() as conn, conn.transaction():
        stored = await store.append(stream, version, new, conn=conn)
        await project(conn, stored)  # the live path: the definition of the summary


async def generate(pool: asyncpg.Pool, cases: int = 300, seed: int = 12) -> int:
    """Write ``cases`` cases (1 to 25 events each) and their access streams; returns events."""
    rng = random.Random(seed)
    store = EventStore(pool, "case")
    ids = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(cases)]
    targets = {case_id: rng.randrange(1, 26) for case_id in ids}
    versions = dict.fromkeys(ids, 0)
    written, tick = 0, 0
    open_ids = list(ids)
    while open_ids:
        case_id = rng.choice(open_ids)
        v = versions[case_id]
        tick += 1
        at = T0 + timedelta(seconds=tick)
        if v == 0:
            region = rng.choice(sorted(REGIONS))
            batch: list[Event] = [opened(region=region, office=rng.choice([None, "khujand-nrm"]))]
        else:
            batch = [_later_event(rng, v + i) for i in range(rng.choice([1, 1, 1, 2, 3]))]
        batch = batch[: targets[case_id] - v]
        await _append_live(pool, store, case_id, v, batch, at)
        versions[case_id] = v + len(batch)
        written += len(batch)
        if versions[case_id] >= targets[case_id]:
            open_ids.remove(case_id)
        if rng.random() < 0.1:  # a read of identifying fields: its own stream
            stream = f"access-{case_id}"
            access = CaseAccessed(who="cw-1", role="caseworker", fields=["notes"], endpoint="GET")
            await _append_live(pool, store, stream, versions.get(stream, 0), [access], at)
            versions[stream] = versions.get(stream, 0) + 1
            written += 1
    # Events of a case never opened: the live updates find no row and change nothing.
    orphan = str(uuid.UUID(int=rng.getrandbits(128)))
    await _append_live(pool, store, orphan, 0, [CaseClosed(reason="duplicate")], T0)
    return written + 1
