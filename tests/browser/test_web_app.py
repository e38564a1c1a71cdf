"""The web app in a real browser (Debian's Chromium through Playwright) against the
system started as ``make run`` starts it: a caseworker opens a case, records consent and
requests a referral; the shelter accepts it in its inbox; the auditor sees the whole
history and a verified chain; a bad intake shows its field errors in Tajik. Plus, without
a browser, a provider trying another provider's referral through the web app."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import WebApp
from tests.e2e.harness import System
from tests.integration.case.stories import intake

KHUJAND = {"region": "sughd", "office": "khujand"}
GIVEN = "Zarina-Invented"
PAGE_LIMIT = 100_000  # bytes: the budget for a page on a slow phone


def sign_in(page: Page, web: WebApp, role: str, sub: str, **claims: str) -> None:
    page.goto(web.url + "/signin")
    page.select_option("#f-role", role)
    page.fill("#f-sub", sub)
    if "region" in claims:
        page.select_option("#f-region", claims["region"])
    for name in ("office", "provider_id"):
        if name in claims:
            page.fill(f"#f-{name}", claims[name])
    page.click("form[action='/signin/dev'] button[type=submit]")
    no_error(page)


def choose_language(page: Page, lang: str) -> None:
    page.select_option("#lang-choice", lang)
    page.click("form.lang button[type=submit]")
    expect(page.locator("html")).to_have_attribute("lang", lang)


def no_error(page: Page) -> None:
    """Fail with the error page's own message (not a locator timeout) when there is one."""
    page.wait_for_load_state()
    if page.locator("h1", has_text="Something went wrong").count():
        raise AssertionError(f"{page.url}: {page.locator('.alert').inner_text()}")


def small(page: Page) -> None:
    assert len(page.content().encode()) < PAGE_LIMIT, page.url


def routed(system: System, case_id: str, need: str) -> dict[str, Any]:
    """The case's referral for ``need`` once routed (read through the referral API)."""
    headers = system.headers("caseworker", "e2e-reader", **KHUJAND)
    deadline = time.monotonic() + 30
    while True:
        rows = httpx.get(
            f"{system.url('referral')}/cases/{case_id}/referrals", headers=headers
        ).json()
        for row in rows:
            if row["need"] == need and row["status"] != "requested":
                return dict(row)
        assert time.monotonic() < deadline, f"no {need} referral routed for {case_id}"
        time.sleep(0.25)


def test_caseworker_shelter_and_auditor(
    system: System, web: WebApp, browser: Browser, shots: Path
) -> None:
    cw = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = cw.new_page()
    sign_in(page, web, "caseworker", "amina", **KHUJAND)
    expect(page.locator("h1")).to_have_text("My cases")

    # Intake
    page.click("text=New case")
    page.select_option("#f-region", "sughd")
    page.check("input[name=categories][value=trafficking]")
    page.select_option("#f-profile-sex", "female")
    page.select_option("#f-profile-language", "tg")
    page.fill("#f-profile-estimated_age_years", "19")
    page.fill("#f-profile-district", "khujand")
    page.fill("#f-profile-given_name", GIVEN)
    page.fill("#f-profile-narrative", "Invented for the browser test.")
    page.click("form[action='/cases/new'] button[type=submit]")
    expect(page.locator("[role=status]").first).to_contain_text("The case was opened")
    case_id = page.url.rstrip("/").split("/")[-1].split("?")[0]
    assert GIVEN not in page.content(), "identifying fields must stay hidden until asked"
    small(page)

    # "Show" opens the identifying fields, and the case service records the look.
    page.click("text=Show identifying details")
    expect(page.locator("text=" + GIVEN)).to_be_visible()
    expect(page.locator("text=has been recorded")).to_be_visible()
    page.screenshot(path=str(shots / "en-case.png"))

    # Needs, then consent
    page.goto(f"{web.url}/cases/{case_id}")
    page.click("a[href$='/needs']")
    page.check("input[name=needs][value=shelter]")
    page.click("form[action$='/needs'] button[type=submit]")
    expect(page.locator("[role=status]").first).to_contain_text("The needs were recorded")
    page.click("text=Record consent")
    page.check("input[name=service_types][value=shelter]")
    page.check("input[name=data_categories][value=identity]")  # the shelter may learn the name
    page.click("form[action$='/consent'] button[type=submit]")
    expect(page.locator("[role=status]").first).to_contain_text("The consent was recorded")

    # Referral (the needs come pre-ticked), then where it went and why (the page reloads
    # until routed)
    page.click("text=Request a referral")
    expect(page.locator("input[name=needs][value=shelter]")).to_be_checked()
    page.select_option("#f-urgency", "urgent")
    page.click("form[action$='/referral'] button[type=submit]")
    no_error(page)
    expect(page.locator("h1")).to_have_text("Where it went and why")
    expect(page.locator("text=Sent to")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("heading", name="Why", exact=True).first).to_be_visible()
    page.screenshot(path=str(shots / "en-routing.png"), full_page=True)
    shelter = routed(system, case_id, "shelter")
    assert shelter["provider_id"], shelter
    cw.close()

    # The shelter accepts in its inbox, seeing no name.
    sh = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = sh.new_page()
    sign_in(page, web, "provider", "shelter-staff", provider_id=shelter["provider_id"])
    expect(page.locator("h1")).to_contain_text(shelter["provider_id"])
    card = page.locator("section.card").filter(has_text="Shelter")
    expect(card).to_have_count(1)
    assert GIVEN not in page.content()
    page.screenshot(path=str(shots / "en-inbox.png"))
    card.locator("form[action$='/accept'] button").click()
    expect(page.locator("[role=status]").first).to_contain_text("You accepted the referral")
    assert routed(system, case_id, "shelter")["status"] == "accepted"
    small(page)
    # Once accepted, the handover: the name the consent covers, only on "Show".
    page.click("text=Who is arriving (handover)")
    assert GIVEN not in page.content()
    page.click("form[action^='/handover/'] button[type=submit]")
    no_error(page)
    expect(page.locator("text=" + GIVEN)).to_be_visible()
    expect(page.locator("text=has been recorded")).to_be_visible()
    page.screenshot(path=str(shots / "en-handover.png"))
    # The service was given: the shelter records the outcome, the caseworker confirms it.
    page.click("text=Back to the inbox")
    card = page.locator("section.card").filter(has_text="Shelter")
    card.locator("select[name=outcome]").select_option("delivered")
    card.locator("form[action$='/outcome'] button").click()
    expect(page.locator("[role=status]").first).to_contain_text("The outcome was recorded")
    sh.close()
    cw = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = cw.new_page()
    sign_in(page, web, "caseworker", "amina", **KHUJAND)
    page.goto(f"{web.url}/cases/{case_id}")
    expect(page.locator("text=Delivered")).to_be_visible()
    page.click("text=Confirm the outcome")
    expect(page.locator("[role=status]").first).to_contain_text("The outcome is confirmed")
    cw.close()

    # The auditor: the whole history, who looked, and a verified chain.
    au = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = au.new_page()
    sign_in(page, web, "auditor", "olim")
    page.fill("#f-case", case_id)
    page.click("form[action='/audit'] button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Case history")
    expect(page.locator("p[role=status]")).to_contain_text("Verified")
    history = page.content()
    for event in (
        "CaseOpened",
        "ConsentGiven",
        "ReferralRequested",
        "ReferralAccepted",
        "ServiceOutcomeRecorded",
        "OutcomeConfirmed",
    ):
        assert event in history, event
    expect(page.locator("#reads-heading + ul")).to_contain_text("amina")
    assert GIVEN not in history
    page.screenshot(path=str(shots / "en-audit.png"), full_page=True)
    small(page)
    au.close()


def test_a_bad_intake_shows_the_field_errors_in_tajik(
    web: WebApp, browser: Browser, shots: Path
) -> None:
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 1400})
    page = ctx.new_page()
    sign_in(page, web, "caseworker", "amina", **KHUJAND)
    choose_language(page, "tg")
    page.goto(web.url + "/cases/new")
    # Keyboard first: the first Tab lands on "skip to content", which is then visible.
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    expect(page.locator("a.skip")).to_be_in_viewport()
    page.fill("#f-profile-estimated_age_years", "бист")
    page.fill("#f-profile-date_of_birth", "31.02.2007")
    page.click("form[action='/cases/new'] button[type=submit]")

    expect(page.locator("[role=alert]")).to_contain_text("Лутфан майдонҳои")
    expect(page.locator("#err-region")).to_have_text(re.compile("Лутфан"))
    expect(page.locator("#err-profile-sex")).to_have_text(re.compile("Лутфан"))
    expect(page.locator("#err-categories")).to_be_visible()
    expect(page.locator("#err-profile-estimated_age_years")).to_contain_text("адади бутун")
    expect(page.locator("#err-profile-date_of_birth")).to_contain_text("СССС-ММ-РР")
    expect(page.locator("#f-profile-sex")).to_have_attribute("aria-invalid", "true")
    # What was typed stays in the form.
    expect(page.locator("#f-profile-estimated_age_years")).to_have_value("бист")
    page.screenshot(path=str(shots / "tg-intake-errors.png"), full_page=True)

    # Remembered: a new sign-in in the same browser keeps Tajik.
    page.goto(web.url + "/signin")
    expect(page.locator("html")).to_have_attribute("lang", "tg")
    ctx.close()


def test_main_pages_in_russian_and_tajik(
    system: System, web: WebApp, browser: Browser, shots: Path
) -> None:
    """Screenshots of the main pages in the other languages (docs/screenshots/)."""
    headers = system.headers("caseworker", "amina", **KHUJAND)
    base = system.url("case")
    body = {
        "region": "sughd",
        "categories": ["trafficking"],
        "profile": {
            "sex": "female",
            "language": "ru",
            "region": "sughd",
            "district": "khujand",
            "categories": ["trafficking"],
            "estimated_age_years": 24,
        },
    }
    case_id = httpx.post(f"{base}/cases", json=body, headers=headers).json()["id"]
    consent = {
        "purpose": "referral",
        "service_types": ["shelter", "legal_aid"],
        "data_categories": ["needs", "demographics"],
    }
    cid = httpx.post(f"{base}/cases/{case_id}/consents", json=consent, headers=headers).json()
    req = {"needs": ["shelter", "legal_aid"], "urgency": "routine", "consent_id": cid["consent_id"]}
    assert (
        httpx.post(f"{base}/cases/{case_id}/referrals", json=req, headers=headers).status_code
        == 202
    )
    shelter = routed(system, case_id, "shelter")
    routed(system, case_id, "legal_aid")
    for lang in ("ru", "tg"):
        ctx = browser.new_context(viewport={"width": 1100, "height": 900})
        page = ctx.new_page()
        page.goto(web.url + "/signin")
        choose_language(page, lang)
        page.screenshot(path=str(shots / f"{lang}-signin.png"))
        sign_in(page, web, "caseworker", "amina", **KHUJAND)
        page.goto(f"{web.url}/cases/{case_id}")
        page.screenshot(path=str(shots / f"{lang}-case.png"), full_page=True)
        page.goto(f"{web.url}/cases/{case_id}/routing?request={shelter['request_id']}")
        page.screenshot(path=str(shots / f"{lang}-routing.png"), full_page=True)
        page.goto(web.url + "/cases/new")
        page.click("form[action='/cases/new'] button[type=submit]")
        page.screenshot(path=str(shots / f"{lang}-intake-errors.png"), full_page=True)
        sign_in(page, web, "provider", "staff", provider_id=shelter["provider_id"])
        page.screenshot(path=str(shots / f"{lang}-inbox.png"), full_page=True)
        sign_in(page, web, "auditor", "olim")
        page.goto(f"{web.url}/audit/cases/{case_id}")
        expect(page.locator("html")).to_have_attribute("lang", lang)
        page.screenshot(path=str(shots / f"{lang}-audit.png"), full_page=True)
        ctx.close()


class Visitor:
    """A browser without a browser: keeps the web app's cookies (Secure ones too, as
    Chromium does on 127.0.0.1) and posts forms with the page's CSRF token."""

    def __init__(self, web: WebApp) -> None:
        self.client = httpx.Client(base_url=web.url, timeout=15)
        self.cookies: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        cookie = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        r = self.client.request(method, path, headers={"cookie": cookie}, **kwargs)
        for header in r.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name] = rest.split(";", 1)[0]
        return r

    def csrf(self, path: str) -> str:
        m = re.search(r'name="csrf_token" value="([^"]+)"', self.request("GET", path).text)
        assert m
        return m.group(1)

    def sign_in(self, role: str, sub: str, **claims: str) -> None:
        data = {"csrf_token": self.csrf("/signin"), "role": role, "sub": sub, **claims}
        assert self.request("POST", "/signin/dev", data=data).status_code == 303


def test_a_provider_cannot_see_or_answer_another_providers_referral(
    system: System, web: WebApp
) -> None:
    headers = system.headers("caseworker", "amina", **KHUJAND)
    base = system.url("case")
    body = {"region": "sughd", "categories": ["trafficking"], "profile": {
        "sex": "female", "language": "tg", "region": "sughd", "district": "khujand",
        "categories": ["trafficking"]}}  # fmt: skip
    case_id = httpx.post(f"{base}/cases", json=body, headers=headers).json()["id"]
    consent = {
        "purpose": "referral",
        "service_types": ["shelter"],
        "data_categories": ["needs", "demographics"],
    }
    cid = httpx.post(f"{base}/cases/{case_id}/consents", json=consent, headers=headers).json()
    req = {"needs": ["shelter"], "urgency": "routine", "consent_id": cid["consent_id"]}
    r = httpx.post(f"{base}/cases/{case_id}/referrals", json=req, headers=headers)
    assert r.status_code == 202, r.text
    referral = routed(system, case_id, "shelter")
    rid, owner = referral["referral_id"], referral["provider_id"]

    other = Visitor(web)
    other.sign_in("provider", "intruder", provider_id="some-other-provider")
    assert rid not in other.request("GET", "/inbox").text
    token = other.csrf("/inbox")
    for action in ("accept", "decline", "start", "complete"):
        r = other.request(
            "POST", f"/inbox/{rid}/{action}",
            data={"csrf_token": token, "reason_code": "no_capacity"},
        )  # fmt: skip
        assert r.status_code == 404, (action, r.status_code)
    assert routed(system, case_id, "shelter")["status"] == "awaiting_answer"
    assert routed(system, case_id, "shelter")["provider_id"] == owner

    # The rightful provider sees it.
    mine = Visitor(web)
    mine.sign_in("provider", "staff", provider_id=owner)
    assert rid in mine.request("GET", "/inbox").text


def test_an_intake_sent_twice_opens_one_case(web: WebApp) -> None:
    """A double click, or a reload after a lost answer: the form's own Idempotency-Key."""
    visitor = Visitor(web)
    visitor.sign_in("caseworker", "amina", **KHUJAND)
    page = visitor.request("GET", "/cases/new").text
    form = {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
        "form_id": re.search(r'name="form_id" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
        "region": "sughd", "categories": "trafficking", "profile.sex": "male",
        "profile.language": "ru",
    }  # fmt: skip
    first = visitor.request("POST", "/cases/new", data=form)
    again = visitor.request("POST", "/cases/new", data=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]


def test_a_coordinator_reads_statistics_with_a_chart(
    system: System, web: WebApp, browser: Browser, shots: Path
) -> None:
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    sign_in(page, web, "coordinator", "imcctip")
    page.goto(web.url + "/statistics?measure=cases_opened&rows=region")
    no_error(page)
    expect(page.locator("#table-heading")).to_contain_text("Cases opened")
    expect(page.locator("table tbody tr")).to_have_count(5)  # every region, zeros included
    chart = page.locator("img[src^='/statistics/chart.svg']")
    expect(chart).to_be_visible()
    assert chart.evaluate("img => img.naturalWidth") > 0, "the chart did not load"
    page.screenshot(path=str(shots / "en-statistics.png"), full_page=True)
    ctx.close()


def test_a_caseworker_records_the_cases_other_changes(
    system: System, web: WebApp, browser: Browser
) -> None:
    """Identification, a note, a consent withdrawn, close, reopen and transfer, each
    through its form against the real case service, and a 409 said in words."""
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    sign_in(page, web, "caseworker", "dilnoza", **KHUJAND)
    page.goto(web.url + "/cases/new")
    page.select_option("#f-region", "sughd")
    page.check("input[name=categories][value=trafficking]")
    page.select_option("#f-profile-sex", "male")
    page.select_option("#f-profile-language", "ru")
    page.fill("#f-profile-estimated_age_years", "30")
    page.click("form[action='/cases/new'] button[type=submit]")
    expect(page.locator("[role=status]").first).to_contain_text("The case was opened")
    case_url = page.url.split("?")[0]

    def done(notice: str) -> None:
        no_error(page)
        expect(page.locator("[role=status]").first).to_contain_text(notice)

    page.click("text=Record an identification decision")
    page.select_option("#f-status", "presumed")
    page.select_option("#f-basis", "indicators_present")
    page.select_option("#f-deciding_agency", "police")
    page.click("form[action$='/identification'] button[type=submit]")
    done("The identification decision was recorded")

    page.click("text=Add a note")
    page.click("form[action$='/note'] button[type=submit]")  # empty: the API says where
    expect(page.locator("#err-text")).to_contain_text("Please fill this in")
    page.fill("#f-text", "Invented note for the browser test.")
    page.click("form[action$='/note'] button[type=submit]")
    done("The note was added")

    page.click("text=Record consent")
    page.check("input[name=service_types][value=legal_aid]")
    page.click("form[action$='/consent'] button[type=submit]")
    done("The consent was recorded")
    page.click("a[href*='/withdraw']")
    page.select_option("#f-reason_code", "survivor_request")
    page.click("form[action$='/withdraw'] button[type=submit]")
    done("The consent was withdrawn")
    expect(page.locator("a[href*='/withdraw']")).to_have_count(0)

    page.click("text=Close the case")
    page.select_option("#f-reason", "services_completed")
    page.click("form[action$='/close'] button[type=submit]")
    done("The case was closed")
    # A closed case takes no note: the case service's 409, said in words.
    page.goto(case_url + "/note")
    page.fill("#f-text", "Too late.")
    page.click("form[action$='/note'] button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("The case is closed: reopen it first")
    page.goto(case_url)
    page.click("text=Reopen the case")
    page.select_option("#f-reason", "new_needs")
    page.click("form[action$='/reopen'] button[type=submit]")
    done("The case was reopened")

    page.click("text=Request a transfer")
    page.fill("#f-to_caseworker", "farrukh")
    page.click("form[action$='/transfer'] button[type=submit]")
    done("The transfer was requested")
    history = httpx.get(
        system.url("case") + case_url.replace(web.url, "") + "/history",
        headers=system.headers("auditor", "e2e-auditor"),
    )
    assert history.status_code == 200, history.text
    for kind in ("IdentificationRecorded", "CaseNoteAdded", "ConsentWithdrawn", "CaseClosed",
                 "CaseReopened", "CaseTransferRequested"):  # fmt: skip
        assert kind in history.text, kind
    ctx.close()


def test_a_supervisor_links_two_cases_of_one_person(
    system: System, web: WebApp, browser: Browser, shots: Path
) -> None:
    """Two offices register one person (Cyrillic and Latin); the case service finds the
    pair; the region's supervisor links it on the duplicates page; the case page then
    lists the other case. No identifying field on the duplicates page."""
    born = f"19{secrets.randbelow(40) + 60}-0{secrets.randbelow(9) + 1}-1{secrets.randbelow(9)}"
    cyrillic = {"given_name": "Нигора", "family_name": "Саидова", "date_of_birth": born}
    latin = {"given_name": "Nigorah", "family_name": "Saidova", "date_of_birth": born}
    ids = []
    for names, office in ((cyrillic, "khujand"), (latin, "istaravshan")):
        r = httpx.post(
            system.url("case") + "/cases",
            json=intake(**names),
            headers=system.headers("caseworker", f"cw-{office}", region="sughd", office=office),
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    first, second = ids

    ctx = browser.new_context(locale="en-GB", viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    sign_in(page, web, "supervisor", "malika", region="sughd")
    page.click("nav >> text=Possible duplicates")
    no_error(page)
    row = page.locator("tr").filter(has=page.locator(f"a[href='/cases/{first}']"))
    expect(row).to_have_count(1)
    expect(row.locator(f"a[href='/cases/{second}']")).to_have_count(1)
    for name in (*cyrillic.values(), *latin.values()):
        assert name not in page.content(), name
    page.screenshot(path=str(shots / "en-duplicates.png"), full_page=True)
    row.locator("form[action='/duplicates/link'] button").click()
    expect(page.locator("[role=status]").first).to_contain_text("now linked as one person")
    small(page)
    page.goto(f"{web.url}/cases/{first}")
    no_error(page)
    expect(page.locator("#linked-heading + ul")).to_contain_text(second[:8])
    ctx.close()
