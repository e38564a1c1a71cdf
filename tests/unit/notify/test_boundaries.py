"""Notify's boundaries: it knows the referral service only through the shared event
contract (``shared/events``), and its read side does not reach into its own transport."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from shared.settings import PROJECT_ROOT

NOTIFY = PROJECT_ROOT / "services" / "notify"


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, by absolute name (relative imports resolved against
    ``package``, by default the file's own)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    if package is None:
        package = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def notify_files() -> list[Path]:
    return sorted(NOTIFY.rglob("*.py"))


def test_the_walker_sees_imports_in_every_form(tmp_path: Path) -> None:
    # The check below can fail: it finds each way of writing the forbidden import.
    probe = tmp_path / "probe.py"
    forms = [
        "import services.referral.domain.directory",
        "from services.referral.domain.directory import load_directory",
        "from services import referral",
        "from ...referral.data import DEFAULT_DIRECTORY",
    ]
    for form in forms:
        probe.write_text(form + "\n", encoding="utf-8")
        found = imported_modules(probe, "services.notify.app")
        assert any(m.startswith("services.referral") for m in found), form


@pytest.mark.parametrize("path", notify_files(), ids=lambda p: str(p.relative_to(NOTIFY)))
def test_no_notify_module_imports_the_referral_service(path: Path) -> None:
    found = imported_modules(path)
    referral = sorted(m for m in found if m.split(".")[:2] == ["services", "referral"])
    assert referral == [], f"{path.relative_to(PROJECT_ROOT)} imports {referral}"


def test_the_notify_service_loads_without_the_referral_service() -> None:
    # Transitively too: importing all of notify (its app, as the process does) loads no
    # module of services.referral, and no file of it names the referral directory file.
    code = (
        "import sys, pkgutil, importlib, services.notify as n\n"
        "for m in pkgutil.walk_packages(n.__path__, 'services.notify.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.startswith('services.referral'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for path in notify_files():
        text = path.read_text(encoding="utf-8")
        assert "tajikistan.yaml" not in text and "DIRECTORY_FILE" not in text, path


def test_reading_imports_no_entrypoints_module() -> None:
    reading = NOTIFY / "app" / "reading.py"
    assert not [m for m in imported_modules(reading) if ".entrypoints" in m]
    code = (
        "import sys, services.notify.app.reading\n"
        "bad = sorted(m for m in sys.modules if m.startswith('services.notify.entrypoints'))\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
