"""Story helpers for the case API tests: a survivor, an intake, the usual steps."""

from __future__ import annotations

from typing import Any

import httpx

# An invented person. Tests check these values never leave the service in clear.
GIVEN_NAME = "Zarina"
FAMILY_NAME = "Qodirova-Testcase"
BIRTH_DATE = "1999-07-21"
PHONE = "+992 93 555 0142"
NARRATIVE = "Recruited with a false job offer in Moscow; passport withheld."
SECRETS = (GIVEN_NAME, FAMILY_NAME, BIRTH_DATE, PHONE, NARRATIVE)


def profile(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "given_name": GIVEN_NAME,
        "family_name": FAMILY_NAME,
        "date_of_birth": BIRTH_DATE,
        "contact_arrangement": PHONE,
        "narrative": NARRATIVE,
        "sex": "female",
        "disability": False,
        "nationality": "TJ",
        "citizenship_status": "citizen",
        "language": "tg",
        "region": "sughd",
        "district": "khujand",
        "categories": ["trafficking"],
    }
    body.update(overrides)
    return body


def intake(**profile_overrides: Any) -> dict[str, Any]:
    p = profile(**profile_overrides)
    return {"region": p["region"], "categories": p["categories"], "profile": p}


async def open_case(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any] | None = None
) -> str:
    r = await client.post("/cases", json=intake() if body is None else body, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def give_referral_consent(
    client: httpx.AsyncClient, headers: dict[str, str], case_id: str
) -> str:
    r = await client.post(
        f"/cases/{case_id}/consents",
        json={
            "purpose": "referral",
            "service_types": ["shelter", "medical", "legal_aid"],
            "data_categories": ["needs", "demographics"],
        },
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return str(r.json()["consent_id"])


async def transfer(
    client: httpx.AsyncClient,
    sender: dict[str, str],
    receiver: dict[str, str],
    case_id: str,
    body: dict[str, Any],
) -> None:
    """Request a transfer and have the receiving side accept it (issue 13 item 7)."""
    r = await client.post(f"/cases/{case_id}/transfer", json=body, headers=sender)
    assert r.status_code == 202, r.text
    accept = f"/cases/{case_id}/transfers/{r.json()['transfer_id']}/accept"
    r = await client.post(accept, headers=receiver)
    assert r.status_code == 200, r.text
