"""The demo's scenario, as assertions: the three services as processes, driven by
``services.demo.run_demo`` through HTTP and NATS only, started with ``make run``'s
development settings (``RUN_SETTINGS``: a reflection-period reminder that falls due at once,
a 2-second reflection timer) and a short emergency answer time so the escalation happens
while we watch."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.demo import RUN_SETTINGS, SHELTER, Endpoints, run_demo
from tests.e2e.harness import FAST_ENV, System


@pytest.fixture(scope="module")
def system_env() -> dict[str, str]:
    return {
        **FAST_ENV,
        **RUN_SETTINGS,  # what `make run` sets (tests/unit/test_run_settings.py)
        "SAFEPATH_REFERRAL_SLA_EMERGENCY_SECONDS": "3",
    }


def endpoints(system: System) -> Endpoints:
    return Endpoints(
        case_url=system.url("case"),
        referral_url=system.url("referral"),
        notify_url=system.url("notify"),
        nats_url=system.nats_url,
        namespace=system.namespace,
        nats_auth_dir=str(system.installation.credentials.directory),
    )


async def test_the_demo_plays_the_whole_referral_story(system: System) -> None:
    lines: list[str] = []

    def token(sub: str, role: str, **claims: Any) -> str:
        return system.token(role, sub, **claims)

    started = time.monotonic()
    result = await run_demo(endpoints(system), token, say=lines.append, escalation_wait=20)
    took = time.monotonic() - started
    story = "\n".join(lines)

    # Routing: the young woman from Khujand goes to the Sughd shelter in Buston.
    assert result.routed["shelter"] == SHELTER, story
    assert set(result.routed) == {"shelter", "legal_aid", "medical"}
    assert all(result.routed.values()), story
    # The shelter heard of it on its NATS subject and by a webhook whose signature verified.
    assert result.nats_notification_id is not None, story
    assert result.webhook_verified, story
    # It accepted; the legal aid centre declined and someone else got the referral.
    assert result.shelter_status == "accepted", story
    # Presumed a victim: her recovery and reflection period runs (30 days by default).
    assert result.reflection_days_left == 30, story
    # The reflection timer reminded her caseworker (the 30-day setting falls due at once),
    # and notify delivered it on the caseworker's NATS subject: the case's history has the
    # case event, notify's notification to the caseworker and its delivery.
    assert result.reflection_reminded_days_before == 30, story
    assert result.reflection_reminder_template == "reflection_period_ending", story
    assert result.reflection_reminder_recipient == "caseworker demo-caseworker-khujand", story
    assert result.reflection_reminder_delivered == "nats", story
    assert "ReflectionPeriodReminderDue" in story and "reflection_period_ending" in story
    # Her consent lets the accepting shelter read her contact arrangement, and only that.
    assert result.handover_fields == ["contact_arrangement"], story
    # The caseworker plans her stay: the shelter is the goal's responsible provider (checked
    # against the directory the case service heard) and a follow-up visit is dated.
    assert result.plan_goal_provider == SHELTER and result.follow_up_due, story
    # ... and the due-date timer reminds the caseworker of the goal through notify.
    assert result.plan_reminder_template == "plan_goal_due", story
    assert result.plan_reminder_delivered == "nats", story
    assert result.legal_declined_by is not None
    assert result.legal_rerouted_to not in (None, result.legal_declined_by), story
    # The withdrawn consent reached every provider of her referrals, the decliner too; the
    # shelter heard it by webhook, reads the referral as 410 Gone and confirmed deletion.
    assert result.legal_declined_by in result.told_to_delete, story
    assert SHELTER in result.told_to_delete, story
    assert result.withdrawal_webhook_verified, story
    assert result.shelter_gone_status == 410 and result.deletion_confirmed, story
    # The emergency for the mine survivor escalated when its 3-second answer time passed.
    assert result.emergency_first_provider is not None
    assert result.escalated, story
    # Khorog asked Dushanbe to take the mine survivor's case over: Dushanbe found it in its
    # list and accepted; the case, and its referrals, are Dushanbe's; Khorog's is a 404.
    assert result.transfer_id and result.transfer_listed, story
    assert result.transferred_to == "dushanbe" and result.sender_after_transfer == 404, story
    assert result.referrals_follow_transfer, story
    # The auditor's checks: every chain verifies.
    assert result.audit_ok and all(result.audit_ok.values()), result.audit_ok
    assert {"case", "referral", "notify"} <= set(result.audit_ok)
    if result.history is not None:
        assert result.history, "the case has a history"
    # A newcomer watches it in under a minute; the story names the ids it talks about.
    assert took < 60, took
    assert result.case_id in story and result.referral_ids["shelter"] in story
    # Nothing identifying is printed.
    assert "Demo-Person" not in story and "false job offer" not in story


async def test_after_the_demo_a_newcomer_fetches_a_chart_of_the_statistics(
    system: System,
) -> None:
    """README, "Watch it work": the districts' chart, as a coordinator fetches it. The
    demo's cases are in Khujand and Khorog: a figure of 1 shows as "<5", never as 1."""
    async with system.client("case", "coordinator", "newcomer") as c:
        r = await c.get("/statistics/cases_opened/chart.svg", params={"rows": "district"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/svg+xml"
    svg = r.content
    assert svg.startswith(b"<svg") and b"<script" not in svg
    assert b"khujand" in svg and b"khorog" in svg and b"&lt;5" in svg
