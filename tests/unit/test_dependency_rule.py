"""The dependency rule: a service's domain depends on nothing with I/O, clocks or chance.

Every module under ``services/*/domain`` may import only the pure standard library, the
pure libraries below (models, YAML text, webhook HMAC, JSON), the shared event contract
(``shared.events``, ``shared.envelope`` with the JSON reader it uses, ``shared.jsontext``,
``shared.pseudonym``, ``shared.rfc3339``) and its
own service's domain. It may not read the clock (``datetime.now``, ``date.today``,
``time``) or draw random values (``random``, ``secrets``, ``os.urandom``, ``uuid4``): the
application layer passes ``now``, ids and
random bytes in. The shared modules a domain may use are held to the same rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.settings import PROJECT_ROOT

PURE_STDLIB = {
    "__future__", "abc", "base64", "bisect", "collections", "copy", "dataclasses",
    "datetime", "decimal", "enum", "fractions", "functools", "hashlib", "heapq", "hmac",
    "ipaddress", "itertools", "json", "math", "operator", "re", "statistics", "string",
    "textwrap", "types", "typing", "unicodedata", "uuid",
}  # fmt: skip
PURE_LIBRARIES = {
    "pydantic", "pydantic_core", "annotated_types", "yaml", "standardwebhooks", "orjson",
}  # fmt: skip
SHARED_PURE = (
    "shared.events", "shared.envelope", "shared.jsontext", "shared.pseudonym", "shared.rfc3339",
)  # fmt: skip
# shared/envelope.py reads SAFEPATH_SCHEMA_BASE_URL in ``schema_base()``, which only the
# shell calls (a domain passes the base in); it may import ``os`` for that, nothing else.
SHARED_EXCEPTIONS = {"shared.envelope": {"os"}}
# Named so a failure says why; anything not allowed above fails anyway.
IMPURE = {
    "asyncio", "asyncpg", "nats", "faststream", "fastapi", "starlette", "httpx", "os",
    "time", "random", "secrets", "socket", "subprocess", "pathlib", "io", "logging",
    "structlog", "shutil", "tempfile", "threading",
}  # fmt: skip
# Calls that read the clock or draw chance although their module is allowed.
IMPURE_CALLS = (
    "datetime.now", "datetime.utcnow", "datetime.today", "date.today",
    "uuid.uuid1", "uuid.uuid4", "uuid7",
)  # fmt: skip


@dataclass(frozen=True, order=True)
class Violation:
    module: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.module}:{self.line}: {self.what}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(tree: ast.AST, module: str, is_package: bool = False) -> list[tuple[int, str]]:
    """(line, absolute name) of everything imported, at any depth (functions included):
    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a.b`` (a module or a name in
    it), so ``from services import referral`` is judged as ``services.referral``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def local_names(tree: ast.AST, module: str, is_package: bool = False) -> dict[str, str]:
    """What each imported local name stands for: ``dt`` → ``datetime.datetime``."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, module, is_package)
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def dotted(expr: ast.expr, names: dict[str, str]) -> str | None:
    """``datetime.datetime.now`` for the expression ``dt.now`` (after ``... as dt``)."""
    if isinstance(expr, ast.Name):
        return names.get(expr.id, expr.id)
    if isinstance(expr, ast.Attribute):
        inner = dotted(expr.value, names)
        return None if inner is None else f"{inner}.{expr.attr}"
    return None


def allowed(imported: str, own_domain: str | None) -> bool:
    top = imported.split(".")[0]
    if top in PURE_STDLIB or top in PURE_LIBRARIES:
        return True
    within = (*SHARED_PURE, *((own_domain,) if own_domain else ()))
    return any(imported == p or imported.startswith(p + ".") for p in within)


def violations(source: str, module: str, is_package: bool = False) -> list[Violation]:
    """What ``source`` (the text of ``module``) does against the dependency rule."""
    tree = ast.parse(source)
    parts = module.split(".")
    own = ".".join(parts[:3]) if parts[0] == "services" and parts[2:3] == ["domain"] else None
    found: list[Violation] = []
    for line, imported in imports_of(tree, module, is_package):
        if imported.split(".")[0] in IMPURE:
            found.append(Violation(module, line, f"imports {imported} (I/O, clock or chance)"))
        elif not allowed(imported, own):
            found.append(Violation(module, line, f"imports {imported} (outside the rule)"))
    names = local_names(tree, module, is_package)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            called = dotted(node.func, names)
            if called is not None and any(
                called == c or called.endswith("." + c) for c in IMPURE_CALLS
            ):
                found.append(Violation(module, node.lineno, f"calls {called}()"))
    return sorted(set(found))


def domain_files() -> list[Path]:
    return sorted(PROJECT_ROOT.glob("services/*/domain/**/*.py"))


def shared_pure_files() -> list[Path]:
    files: list[Path] = []
    for name in SHARED_PURE:
        path = PROJECT_ROOT.joinpath(*name.split("."))
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]
    return files


def check(path: Path) -> list[Violation]:
    return violations(
        path.read_text(encoding="utf-8"), module_name(path), path.name == "__init__.py"
    )


# -- the checker finds what it must (so the rule below can fail) ----------------------------

BREAKING = [
    ("import asyncpg", "asyncpg"),
    ("from nats.js import JetStreamContext", "nats"),
    ("import faststream", "faststream"),
    ("from fastapi import Request", "fastapi"),
    ("import httpx", "httpx"),
    ("import os", "os"),
    ("from os import urandom", "os"),
    ("import time", "time"),
    ("from random import choice", "random"),
    ("import secrets", "secrets"),
    ("from pathlib import Path", "pathlib"),
    ("from shared.eventstore import EventStore", "shared.eventstore"),
    ("from shared.ids import uuid7", "shared.ids"),
    ("from services.case.app.handling import CaseWrites", "services.case.app"),
    ("from services.notify.domain.payload import build_notification", "services.notify"),
    ("from ..app import referrals", "services.referral.app"),
    ("from ... import notify", "services.notify"),
    ("def f():\n    import asyncpg\n", "asyncpg"),
    ("from datetime import datetime\nx = datetime.now()", "datetime.datetime.now()"),
    ("import datetime\nx = datetime.datetime.now(datetime.UTC)", "datetime.datetime.now()"),
    ("from datetime import datetime as dt\nx = dt.now()", "datetime.datetime.now()"),
    ("from datetime import date\nx = date.today()", "datetime.date.today()"),
    ("from datetime import UTC, datetime\nx = datetime.utcnow()", "datetime.utcnow()"),
    ("import uuid\nx = uuid.uuid4()", "uuid.uuid4()"),
    ("from uuid import uuid4\nx = uuid4()", "uuid.uuid4()"),
]


@pytest.mark.parametrize(("source", "named"), BREAKING, ids=[s for s, _ in BREAKING])
def test_the_checker_finds_each_way_of_breaking_the_rule(source: str, named: str) -> None:
    found = violations(source, "services.referral.domain.probe")
    assert any(named in v.what for v in found), (source, found)


def test_the_checker_lets_a_pure_module_through() -> None:
    pure = """
from __future__ import annotations
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from pydantic import BaseModel
from shared.events.case import ConsentScope
from shared.pseudonym import case_reference
from services.referral.domain.state import Referral
from . import routing
from .sla import Slas

def referral_id_for(request_id: str, need: str) -> str:
    return str(uuid.uuid5(uuid.UUID(request_id), need))

def due(now: datetime) -> datetime:
    return now + timedelta(hours=1)
"""
    assert violations(pure, "services.referral.domain.probe") == []


def test_another_services_domain_is_outside_the_rule() -> None:
    found = violations(
        "from services.case.domain.state import Case", "services.referral.domain.probe"
    )
    assert [v.what for v in found] == ["imports services.case.domain.state.Case (outside the rule)"]


# -- the rule, on the code --------------------------------------------------------------------


def test_every_service_has_a_domain_to_check() -> None:
    services = {p.relative_to(PROJECT_ROOT).parts[1] for p in domain_files()}
    assert {"case", "referral", "notify"} <= services


@pytest.mark.parametrize(
    "path", domain_files(), ids=lambda p: str(p.relative_to(PROJECT_ROOT / "services"))
)
def test_domain_modules_import_nothing_impure(path: Path) -> None:
    assert [str(v) for v in check(path)] == []


@pytest.mark.parametrize(
    "path", shared_pure_files(), ids=lambda p: str(p.relative_to(PROJECT_ROOT / "shared"))
)
def test_the_shared_modules_a_domain_may_use_are_pure_too(path: Path) -> None:
    excused = SHARED_EXCEPTIONS.get(module_name(path), set())
    found = [v for v in check(path) if v.what.split()[1].split(".")[0] not in excused]
    assert [str(v) for v in found] == []
