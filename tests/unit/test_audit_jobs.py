"""``safepath audit verify --jobs``: a count below one or above the cap is refused before
anything is read or connected to (issue 12)."""

from __future__ import annotations

import pytest

from services import cli


@pytest.mark.parametrize("jobs", ["0", "-3", "65", "100000"])
def test_a_job_count_out_of_range_is_refused(jobs: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing may be read: settings that would be used are made to fail loudly.
    monkeypatch.setattr(cli, "_operator_settings", lambda: pytest.fail("settings read"))
    with pytest.raises(SystemExit, match="--jobs must be between 1 and 64"):
        cli.main(["audit", "verify", "--jobs", jobs])


def test_a_job_count_that_is_not_a_number_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["audit", "verify", "--jobs", "many"])
    assert "invalid int value" in capsys.readouterr().err


def test_the_default_is_one_job_per_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    async def fake(services: list[str], case: str | None, jobs: int) -> list[dict[str, object]]:
        seen.append(jobs)
        return [{"ok": True}]

    monkeypatch.setattr(cli, "_audit_verify", fake)
    monkeypatch.setattr(cli.os, "cpu_count", lambda: 6)
    assert cli.main(["audit", "verify"]) == 0
    assert seen == [6]
