"""``make run``'s development settings are the demo's (``services.demo.RUN_SETTINGS``),
which ``tests/e2e/test_demo.py`` starts its system with: the Makefile and the module must
not drift apart, and the reminder they add must fall due as a default-length period starts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from services.case.config import CaseSettings
from services.case.domain.reminders import due_setting
from services.demo import RUN_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# `NAME="$${NAME-default}"`: the default applies only when the variable is unset.
_SETTING = re.compile(r'^\t(SAFEPATH_\w+)="\$\$\{(SAFEPATH_\w+)-([^}]*)\}" \\$')


def _run_target() -> dict[str, str]:
    lines = (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()
    start = lines.index("run: $(STAMP)")
    found: dict[str, str] = {}
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        m = _SETTING.match(line)
        if m:
            assert m[1] == m[2], line  # the variable overrides its own default
            found[m[1]] = m[3]
    return found


def test_make_run_sets_the_demos_settings_and_only_those() -> None:
    assert _run_target() == RUN_SETTINGS


def test_the_settings_are_valid_and_not_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = CaseSettings()
    for name, value in RUN_SETTINGS.items():
        monkeypatch.setenv(name, value)
    run = CaseSettings()
    assert run.reflection_reminder_days == [30, 7, 1] != defaults.reflection_reminder_days
    assert run.reflection_interval_seconds == 2 < defaults.reflection_interval_seconds
    assert run.reflection_days == defaults.reflection_days == 30  # the length is unchanged
    assert run.due_reminder_days == [30, 3, 0] != defaults.due_reminder_days
    assert run.due_interval_seconds == 2 < defaults.due_interval_seconds


def test_the_added_reminder_falls_due_as_the_period_starts() -> None:
    days = CaseSettings().reflection_days
    run = CaseSettings(reflection_reminder_days=[30, 7, 1])
    just_started = timedelta(days=days) - timedelta(seconds=1)
    assert due_setting(run.reflection_reminder_days, None, just_started) == 30
    # the defaults remind nobody that early; the 7-day one still comes after the 30-day one
    assert due_setting(CaseSettings().reflection_reminder_days, None, just_started) is None
    assert due_setting(run.reflection_reminder_days, 30, timedelta(days=7)) == 7


def test_the_added_plan_reminder_falls_due_for_the_demos_goal_and_visit() -> None:
    run = CaseSettings(due_reminder_days=[30, 3, 0]).due_reminder_days
    for days_away in (30, 7):  # the shelter goal and the follow-up visit
        assert due_setting(run, None, timedelta(days=days_away)) == 30
        assert (
            due_setting(CaseSettings().due_reminder_days, None, timedelta(days=days_away)) is None
        )
