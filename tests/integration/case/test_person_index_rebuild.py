"""Rebuilding the blind person index from the sealed profiles (issue 14): every case is
opened with its own key, each read recorded before its keys are written; erased cases
are passed over; the pairs are found again and decided pairs keep their decision."""

from __future__ import annotations

import json

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from services.case.app.person_index_rebuild import ENDPOINT, rebuild_person_index
from services.cli import _person_index_rebuild
from shared.auth import Principal
from shared.settings import Settings
from tests.integration.case.conftest import Token
from tests.integration.case.stories import intake, open_case

CYRILLIC = {"given_name": "Зарина", "family_name": "Қодирова", "date_of_birth": "1996-04-11"}
LATIN = {"given_name": "Zarinah", "family_name": "Kodirova", "date_of_birth": "1996-04-11"}
OTHER = {"given_name": "Madina", "family_name": "Saidova", "date_of_birth": "1990-02-03"}


async def test_the_index_is_rebuilt_case_by_case_under_audit(
    app: FastAPI, client: httpx.AsyncClient, auth: Token, pool: asyncpg.Pool
) -> None:
    cw = auth("caseworker", sub="cw-khujand", office="khujand-nrm", region="sughd")
    a = await open_case(client, cw, intake(**CYRILLIC))
    b = await open_case(client, cw, intake(**LATIN))
    c = await open_case(client, cw, intake(**OTHER))
    d = await open_case(client, cw, intake(**OTHER))
    bare = await open_case(client, cw, {"region": "sughd", "categories": ["trafficking"]})
    assert bare not in (a, b, c, d)
    sup = auth("supervisor", region="sughd")
    cd = {"case_a": c, "case_b": d}
    assert (await client.post("/duplicates/dismiss", json=cd, headers=sup)).status_code == 200
    erase = {"reason_code": "survivor_request"}
    r = await client.post(f"/cases/{d}/erase", json=erase, headers=auth("admin"))
    assert r.status_code == 200, r.text
    before = await pool.fetch('SELECT case_id, kind, key FROM "case".person_key ORDER BY 1, 2, 3')
    # The index is lost (the pairs' decisions are events and stay in duplicate_pair).
    await pool.execute('DELETE FROM "case".person_key')
    await pool.execute("DELETE FROM \"case\".duplicate_pair WHERE status = 'pending'")

    svc = app.state.service
    operator = Principal(sub="ops-1", role="admin")
    done = await rebuild_person_index(
        svc.store, svc.writes.keys, svc.index, operator, svc.clock, "rebuild-test"
    )
    assert (done.cases, done.passed_over) == (3, 2)  # d erased, bare has no profile
    after = await pool.fetch('SELECT case_id, kind, key FROM "case".person_key ORDER BY 1, 2, 3')
    assert [tuple(r) for r in after] == [tuple(r) for r in before if r["case_id"] != d]
    pairs = await pool.fetch('SELECT case_a, case_b, status FROM "case".duplicate_pair')
    assert {(r["case_a"], r["case_b"], r["status"]) for r in pairs} == {
        (min(a, b), max(a, b), "pending"),
        (min(c, d), max(c, d), "dismissed"),
    }
    # Each opened profile is a recorded read by the operator; nothing for d or bare.
    rows = await pool.fetch(
        'SELECT stream_id, data::text FROM "case".event WHERE stream_id LIKE $1', "access-%"
    )
    reads = {r["stream_id"] for r in rows if json.loads(r["data"]).get("endpoint") == ENDPOINT}
    assert reads == {f"access-{x}" for x in (a, b, c)}  # neither d nor bare
    for r in rows:
        if json.loads(r["data"]).get("endpoint") == ENDPOINT:
            assert json.loads(r["data"])["who"] == "ops-1"


async def test_the_safepath_command_rebuilds_with_the_services_settings(
    client: httpx.AsyncClient,
    auth: Token,
    pool: asyncpg.Pool,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cw = auth("caseworker", sub="cw-khujand", office="khujand-nrm", region="sughd")
    a = await open_case(client, cw, intake(**CYRILLIC))
    b = await open_case(client, cw, intake(**LATIN))
    await pool.execute('DELETE FROM "case".person_key')
    await pool.execute('DELETE FROM "case".duplicate_pair')
    for name in ("database_url", "master_key", "person_index_key"):
        monkeypatch.setenv(f"SAFEPATH_{name.upper()}", getattr(settings, name))
    said = await _person_index_rebuild("ops-2")
    assert said == "indexed 2 cases, passed over 0, 1 matches"
    pair = await pool.fetchrow('SELECT case_a, case_b FROM "case".duplicate_pair')
    assert pair is not None and {pair["case_a"], pair["case_b"]} == {a, b}
