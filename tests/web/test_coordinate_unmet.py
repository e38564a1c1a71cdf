"""The coordinator's page records that no provider exists for a need (issue 13 item 6):
a form per unroutable referral with the reason codes, in every language; the case page
shows the need unmet with its reason."""

from __future__ import annotations

import re
import uuid

import httpx
from fastapi.testclient import TestClient

from tests.web.conftest import MakeClient, sign_in
from tests.web.fakes import FakeApis, csrf_of
from tests.web.test_outcomes import CASE, CASE_ROW, CASE_VIEW
from tests.web.test_pages import _unroutable

CODES = (
    "no_provider_in_region",
    "no_provider_for_category",
    "person_moved",
    "referred_outside_mechanism",
    "other",
)


def test_a_coordinator_leaves_a_need_unmet_with_a_reason(
    client: TestClient, apis: FakeApis
) -> None:
    rid = str(uuid.uuid4())
    apis.routes[("GET", "/coordinator/referrals")] = [_unroutable(rid)]
    apis.routes[("POST", f"/referrals/{rid}/close-unmet")] = lambda req: (
        httpx.Response(200, json={**_unroutable(rid), "status": "unmet"})
        if b"no_provider_in_region" in req.content
        else httpx.Response(422, json={"status": 422, "errors": [
            {"path": "body.reason_code", "type": "literal_error"}]})
    )  # fmt: skip
    sign_in(client, "coordinator", region="gbao", categories=["mine_eo"])
    page = client.get("/coordinate").text
    assert f'action="/coordinate/{rid}/close-unmet"' in page
    for code in CODES:
        assert f'<option value="{code}">' in page
    token = csrf_of(page)
    form_id = re.findall(r'name="form_id" value="([^"]+)"', page)[-1]
    ok = client.post(
        f"/coordinate/{rid}/close-unmet",
        data={"csrf_token": token, "form_id": form_id, "reason_code": "no_provider_in_region"},
        follow_redirects=False,
    )
    assert ok.headers["location"] == "/coordinate?done=close-unmet"
    sent = apis.calls[-1]
    assert sent.url.path == f"/referrals/{rid}/close-unmet"
    assert sent.headers["idempotency-key"] == form_id
    assert apis.bearer_claims(sent)["categories"] == ["mine_eo"]
    done = client.get("/coordinate?done=close-unmet").text
    assert "Recorded: no provider exists for this need." in done

    missing = client.post(
        f"/coordinate/{rid}/close-unmet", data={"csrf_token": token}, follow_redirects=False
    )
    assert missing.headers["location"] == "/coordinate?problem=unmet_reason"
    assert "Please choose why no provider exists." in client.get(missing.headers["location"]).text


def test_without_the_csrf_token_nothing_is_sent(client: TestClient, apis: FakeApis) -> None:
    rid = str(uuid.uuid4())
    sign_in(client, "coordinator", region="gbao", categories=["mine_eo"])
    r = client.post(
        f"/coordinate/{rid}/close-unmet",
        data={"reason_code": "other"},
        follow_redirects=False,
    )
    assert r.status_code in (400, 403)
    assert not [c for c in apis.calls if c.url.path.endswith("/close-unmet")]


def test_other_roles_cannot_post_it(make_client: MakeClient, apis: FakeApis) -> None:
    rid = str(uuid.uuid4())
    for role in ("caseworker", "supervisor", "provider", "auditor"):
        client = make_client()
        sign_in(client, role, provider_id="shelter-a", region="gbao")
        page = client.get("/cases")  # any page gives the session's csrf token
        token = csrf_of(page.text) if page.status_code == 200 else ""
        r = client.post(
            f"/coordinate/{rid}/close-unmet",
            data={"csrf_token": token, "reason_code": "other"},
            follow_redirects=False,
        )
        assert r.status_code == 403, role
    assert not [c for c in apis.calls if c.url.path.endswith("/close-unmet")]


def test_the_form_speaks_tajik_and_russian(make_client: MakeClient, apis: FakeApis) -> None:
    rid = str(uuid.uuid4())
    apis.routes[("GET", "/coordinator/referrals")] = [_unroutable(rid)]
    for language, words in (
        ("tg", ("Чаро хизматрасон нест", "Дар минтақа хизматрасон нест")),
        ("ru", ("Почему поставщика нет", "В регионе нет поставщика")),
    ):
        client = make_client(language=language)
        sign_in(client, "coordinator", region="gbao", categories=["mine_eo"])
        page = client.get("/coordinate").text
        for w in words:
            assert w in page, (language, w)


def test_the_case_page_shows_the_need_left_unmet_and_why(
    make_client: MakeClient, apis: FakeApis
) -> None:
    row = {**CASE_ROW, "status": "unmet", "provider_id": None, "outcome": None,
           "outcome_reason": None, "unmet_reason": "no_provider_for_category"}  # fmt: skip
    apis.routes[("GET", f"/cases/{CASE}")] = CASE_VIEW
    apis.routes[("GET", f"/cases/{CASE}/referrals")] = [row]
    for language, words in (
        ("en", ("Left unmet: no provider exists", "No provider for the person's category")),
        ("ru", ("Не удовлетворена: поставщика нет", "Нет поставщика для категории человека")),
        ("tg", ("Қонеъ нашуд: хизматрасон вуҷуд надорад", "Барои категорияи шахс")),
    ):
        client = make_client(language=language)
        sign_in(client, "caseworker", sub="amina", region="sughd", office="khujand")
        page = client.get(f"/cases/{CASE}").text
        for w in words:
            assert w.replace("'", "&#39;") in page, (language, w)
        assert "confirm-outcome" not in page
