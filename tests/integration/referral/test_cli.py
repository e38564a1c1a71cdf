"""``safepath directory validate FILE`` on the shipped directory and on a broken one."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cli import main
from services.referral.config import DEFAULT_DIRECTORY


def test_the_shipped_directory_is_valid(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["directory", "validate", str(DEFAULT_DIRECTORY)]) == 0
    assert capsys.readouterr().out.strip().endswith(": ok")


def test_a_broken_directory_reports_every_problem_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = DEFAULT_DIRECTORY.read_text(encoding="utf-8").splitlines()
    buston = next(
        i for i, line in enumerate(lines) if "id: women-and-society-shelter-buston" in line
    )
    lines[buston] = "  - id: femida-shelter-dushanbe"  # a duplicate id
    services = next(i for i in range(buston, len(lines)) if "services:" in lines[i])
    lines[services] = "    services: [shelter, teleportation]"
    broken = tmp_path / "broken.yaml"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")

    assert main(["directory", "validate", str(broken)]) == 1
    out = capsys.readouterr().out
    assert f"{broken}:{buston + 1}: providers[1].id: duplicate id 'femida-shelter-dushanbe'" in out
    assert (
        f"{broken}:{services + 1}: providers[1].services[1]: unknown value 'teleportation'" in out
    )


def test_safepath_token_binds_a_coordinator_to_its_categories(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from shared.auth import AuthConfig, verify_token
    from shared.settings import Settings

    monkeypatch.setenv("SAFEPATH_ENVIRONMENT", "development")
    argv = ["token", "--role", "coordinator", "--sub", "nmac-officer"]
    assert main([*argv, "--category", "mine_eo"]) == 0
    token = capsys.readouterr().out.strip()
    principal = verify_token(token, AuthConfig.from_settings(Settings()))
    assert (principal.role, principal.categories) == ("coordinator", ("mine_eo",))
    with pytest.raises(SystemExit):  # an unknown category is refused before minting
        main([*argv, "--category", "everything"])
