"""The provider's handover page over the case service's handover API (fake here): only
providers, only on a deliberate POST, the refusal for want of consent in words."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of

REFERRAL = "0190a000-0000-7000-8000-0000000000f1"
API = ("GET", f"/referrals/{REFERRAL}/handover")


@pytest.mark.parametrize("role", ["caseworker", "supervisor", "auditor", "coordinator"])
def test_only_providers_reach_the_handover(
    make_client: MakeClient, apis: FakeApis, role: str
) -> None:
    client = make_client()
    sign_in(client, role, region="sughd")
    csrf = csrf_of(client.get("/signin").text)
    assert client.get(f"/handover/{REFERRAL}").status_code == 403
    assert client.post(f"/handover/{REFERRAL}", data={"csrf_token": csrf}).status_code == 403
    assert apis.calls == []


def test_opening_the_page_reads_nothing_showing_asks_with_the_providers_token(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[API] = {
        "referral_id": REFERRAL,
        "categories": ["identity", "contact"],
        "given_name": "Zarina",
        "family_name": "Karimova",
        "contact_arrangement": "call the shelter desk, ask for Z.",
    }
    sign_in(client, "provider", provider_id="shelter-a")
    page = client.get(f"/handover/{REFERRAL}")
    assert page.status_code == 200 and "Zarina" not in page.text
    assert apis.calls == []  # a look is only ever the deliberate POST below
    shown = client.post(f"/handover/{REFERRAL}", data={"csrf_token": csrf_of(page.text)})
    assert shown.status_code == 200
    assert "Zarina" in shown.text and "call the shelter desk" in shown.text
    assert "has been recorded" in shown.text
    claims = apis.bearer_claims(apis.calls[-1])
    assert (claims["role"], claims["provider_id"]) == ("provider", "shelter-a")


def test_without_consent_the_missing_categories_are_said_and_nothing_else(
    client: TestClient, apis: FakeApis
) -> None:
    apis.routes[API] = lambda req: httpx.Response(
        403,
        json={"status": 403, "type": "https://safepath.example/problems/not-consented",
              "detail": "consent c1 does not cover identity", "missing": ["identity", "<b>x"]},
    )  # fmt: skip
    sign_in(client, "provider", provider_id="shelter-a")
    csrf = csrf_of(client.get(f"/handover/{REFERRAL}").text)
    page = client.post(f"/handover/{REFERRAL}", data={"csrf_token": csrf})
    assert page.status_code == 403
    assert "Name and documents" in page.text  # the category, in words
    assert "<b>x" not in page.text and "consent c1" not in page.text


def test_another_providers_referral_is_not_found(client: TestClient, apis: FakeApis) -> None:
    apis.routes[API] = lambda req: httpx.Response(404, json={"status": 404})
    sign_in(client, "provider", provider_id="shelter-b")
    csrf = csrf_of(client.get(f"/handover/{REFERRAL}").text)
    assert client.post(f"/handover/{REFERRAL}", data={"csrf_token": csrf}).status_code == 404


def test_the_inbox_links_the_handover_of_an_accepted_referral(
    client: TestClient, apis: FakeApis
) -> None:
    row = {
        "referral_id": REFERRAL, "need": "shelter", "urgency": "urgent", "status": "accepted",
        "case_reference": "R-1", "categories": ["trafficking"], "region": "sughd",
        "sex": "female", "age_band": "25-39", "language": "tg", "disability": False,
    }  # fmt: skip
    apis.routes[("GET", "/providers/shelter-a/referrals")] = [row]
    sign_in(client, "provider", provider_id="shelter-a")
    assert f'href="/handover/{REFERRAL}"' in client.get("/inbox").text
