"""A write through the API reads its case's stream once (issue 12): the scope check's load
is the one the command decides on, and a step after the write (the referral's check of
linked cases) gets the case as the write left it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
import pytest

from services.case.app import handling, loading
from services.case.entrypoints import change
from tests.integration.case.conftest import Token
from tests.integration.case.stories import give_referral_consent, open_case


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Loads of each case's stream, by case id, wherever the write path loads one."""
    counted: Counter[str] = Counter()

    async def counting(store: Any, case_id: str, **kw: Any) -> loading.LoadedCase:
        counted[case_id] += 1
        return await loading.load_case(store, case_id, **kw)

    monkeypatch.setattr(change, "load_case", counting)
    monkeypatch.setattr(handling, "load_case", counting)
    return counted


async def test_a_consent_a_referral_and_a_note_each_read_the_case_once(
    client: httpx.AsyncClient, auth: Token, reads: Counter[str]
) -> None:
    h = auth()
    case_id = await open_case(client, h)
    assert reads[case_id] == 0  # a new case is not read at all

    await give_referral_consent(client, h, case_id)
    assert reads[case_id] == 1

    r = await client.post(
        f"/cases/{case_id}/referrals", json={"needs": ["shelter"], "urgency": "urgent"}, headers=h
    )
    assert r.status_code == 202, r.text
    assert reads[case_id] == 2

    r = await client.post(f"/cases/{case_id}/notes", json={"text": "seen today"}, headers=h)
    assert r.status_code == 200, r.text
    assert reads[case_id] == 3
