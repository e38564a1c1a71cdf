"""Rebuild the blind person index from the sealed profiles: an operator's act, under audit.

The person keys come from names and birth dates that the events hold only sealed, so no
replay can rebuild them. This opens each case's profile with its own key, one case at a
time, records the read in ``access-<case>`` (as any read of identifying fields is, and
before the keys are written: no record, no keys), then indexes the case exactly as an
intake does (``PersonIndex.index``: its keys replaced, pairs found added as pending, a
decided pair keeps its decision). Erased cases have no key and are passed over. It is
the design's one bulk decryption; ``safepath person-index rebuild`` runs it
(docs/case-domain.md, "Rebuilding the person index").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from services.case.app.duplicates import PersonIndex, identity_of
from services.case.app.loading import load_case
from services.case.app.reading import record_access
from services.case.app.sealing import open_details
from shared.auth import Principal
from shared.crypto import KeyStore
from shared.eventstore import EventStore

ENDPOINT = "safepath person-index rebuild"
FIELDS = [
    "profile.given_name",
    "profile.family_name",
    "profile.date_of_birth",
    "profile.estimated_age_years",
]


@dataclass
class Rebuilt:
    cases: int = 0  # indexed
    passed_over: int = 0  # no profile, erased, or no key
    pairs_found: int = 0


async def rebuild_person_index(
    store: EventStore,
    keys: KeyStore,
    index: PersonIndex,
    operator: Principal,
    clock: Callable[[], datetime],
    correlation_id: str,
) -> Rebuilt:
    """Index every case with a profile, in id order (a later case finds the earlier)."""
    done = Rebuilt()
    ids = [
        r["case_id"]
        for r in await store.pool.fetch(
            f"SELECT case_id FROM {index.q}.case_summary ORDER BY case_id"
        )
    ]
    for case_id in ids:
        loaded = await load_case(store, case_id)
        case = loaded.state
        key = await keys.get(case_id)
        if case is None or case.profile is None or case.identity_erased or key is None:
            done.passed_over += 1
            continue
        await record_access(store, case, case_id, operator, FIELDS, ENDPOINT, correlation_id, clock)
        details = open_details(key, case_id, case.profile.identifying)
        now = clock()
        who = identity_of(details, case.profile.sex, now.date())
        async with store.pool.acquire() as conn, conn.transaction():
            found = await index.index(conn, case_id, who, now)
        done.cases += 1
        done.pairs_found += len(found)
    return done
