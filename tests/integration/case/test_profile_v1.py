"""A profile written before the category facts (``SurvivorProfileRecorded.v1``) still reads,
and the case takes a v2 update on top of it."""

from __future__ import annotations

from typing import Any, ClassVar

import httpx
from fastapi import FastAPI

from services.case.app.sealing import seal_details
from shared.crypto import PgKeyStore, master_key_from_setting
from shared.envelope import Actor
from shared.events.base import Event
from shared.events.case import CaseOpened, IdentifyingDetails
from shared.eventstore import NewEvent
from shared.ids import uuid7
from tests.integration.case.conftest import Token
from tests.integration.case.stories import profile


class SurvivorProfileRecorded(Event):
    """The v1 schema as older code wrote it (not registered: only its type name matters)."""

    service: ClassVar[str] = "case"
    version: ClassVar[int] = 1
    profile: dict[str, Any]


async def test_a_v1_profile_reads_without_facts_and_takes_a_v2_update(
    app: FastAPI, client: httpx.AsyncClient, auth: Token
) -> None:
    runtime = app.state.runtime
    store, case_id = runtime.store, str(uuid7())
    master = master_key_from_setting(runtime.settings.master_key)
    key = await PgKeyStore(runtime.pool, store.schema, master).create(case_id)
    sealed = seal_details(
        key, case_id, IdentifyingDetails(given_name="Зарина", family_name="Қодирова")
    )
    v1 = {
        "identifying": sealed.model_dump(),
        "age_band": "18-24",
        "sex": "female",
        "disability": False,
        "language": "tg",
        "region": "sughd",
        "district": "khujand",
        "categories": ["trafficking"],
    }
    actor = Actor(sub="caseworker-1", role="caseworker")
    opened = CaseOpened(caseworker="caseworker-1", office="khujand-nrm", region="sughd",
                        categories=["trafficking"])  # fmt: skip
    old = SurvivorProfileRecorded(profile=v1)
    await store.append(case_id, 0, [NewEvent(opened, actor, "c"), NewEvent(old, actor, "c")])

    r = await client.get(f"/cases/{case_id}", headers=auth())
    assert r.status_code == 200, r.text
    view = r.json()["profile"]
    assert view["trafficking"] is None and view["identifying"]["given_name"] == "Зарина"

    body = profile(trafficking={"exploitation_forms": ["forced_labour"]})
    updated = await client.put(f"/cases/{case_id}/profile", json=body, headers=auth())
    assert updated.status_code == 200, updated.text
    after = (await client.get(f"/cases/{case_id}", headers=auth())).json()["profile"]
    assert after["trafficking"]["exploitation_forms"] == ["forced_labour"]
