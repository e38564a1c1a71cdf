"""The service directory: providers and national coordinators, from a versioned file.

The entry schemas (``Provider``, ``Coordinator``) live in ``shared.events.referral``
because directory events carry them to other services; they are re-exported here.
``validate_directory_text`` reports every problem of a directory file with its line, so
an operator can fix a file in one pass (``safepath directory validate FILE``).
Pure: it parses text; reading the file is ``app/directory_file.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator

from shared.events.referral import Coordinator, Provider
from shared.events.vocabulary import CATEGORIES

__all__ = [
    "Coordinator",
    "Directory",
    "DirectoryInvalid",
    "Problem",
    "Provider",
    "directory_wide_problems",
    "parse_directory",
    "validate_directory_text",
]

Loc = tuple[str | int, ...]


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a directory file: 1-based line, field path, what is wrong."""

    line: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.path or '<file>'}: {self.message}"


class DirectoryInvalid(ValueError):
    """A directory file that does not validate; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class Directory(BaseModel):
    """A whole directory as one version: every provider and one coordinator per category."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    providers: list[Provider]
    coordinators: list[Coordinator]

    @model_validator(mode="after")
    def _whole(self, info: ValidationInfo) -> Directory:
        # validate_directory_text runs these checks on the raw file, where it knows lines.
        if isinstance(info.context, dict) and info.context.get("skip_cross_checks"):
            return self
        problems = directory_wide_problems(self.model_dump(mode="json"))
        if problems:
            raise ValueError("; ".join(f"{format_path(loc)}: {msg}" for loc, msg in problems))
        return self

    def coordinator_for(self, category: str) -> Coordinator:
        return next(c for c in self.coordinators if c.category == category)


def format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def directory_wide_problems(raw: Any) -> list[tuple[Loc, str]]:
    """Rules over the whole directory: unique ids and subjects, one coordinator per category.

    Works on raw (possibly malformed) data so it can run beside field validation.
    """
    if not isinstance(raw, dict):
        return []
    problems: list[tuple[Loc, str]] = []
    ids: dict[str, Loc] = {}
    subjects: dict[str, Loc] = {}

    def entries(section: str) -> list[tuple[int, dict[str, Any]]]:
        items = raw.get(section)
        if not isinstance(items, list):
            return []
        return [(i, e) for i, e in enumerate(items) if isinstance(e, dict)]

    for section in ("providers", "coordinators"):
        for i, entry in entries(section):
            entry_id = entry.get("id")
            if isinstance(entry_id, str):
                if entry_id in ids:
                    problems.append(
                        (
                            (section, i, "id"),
                            f"duplicate id {entry_id!r} (first at {format_path(ids[entry_id])})",
                        )
                    )
                else:
                    ids[entry_id] = (section, i, "id")
            contact = entry.get("contact")
            subject = contact.get("subject") if isinstance(contact, dict) else None
            if isinstance(subject, str):
                if subject in subjects:
                    problems.append(
                        (
                            (section, i, "contact", "subject"),
                            f"duplicate contact subject "
                            f"{subject!r} (first at {format_path(subjects[subject])})",
                        )
                    )
                else:
                    subjects[subject] = (section, i, "contact", "subject")

    by_category: dict[str, Loc] = {}
    for i, entry in entries("coordinators"):
        category = entry.get("category")
        if isinstance(category, str) and category in by_category:
            problems.append(
                (
                    (("coordinators", i, "category")),
                    f"second coordinator for {category!r} "
                    f"(first at {format_path(by_category[category])})",
                )
            )
        elif isinstance(category, str):
            by_category[category] = ("coordinators", i, "category")
    if isinstance(raw.get("coordinators"), list):
        for category in CATEGORIES:
            if category not in by_category:
                problems.append((("coordinators",), f"no coordinator for category {category!r}"))
    return problems


def parse_directory(text: str) -> Directory:
    """The directory a file's text describes; raises ``DirectoryInvalid`` with every problem."""
    problems = validate_directory_text(text)
    if problems:
        raise DirectoryInvalid(problems)
    return Directory.model_validate(yaml.safe_load(text))


def validate_directory_text(text: str) -> list[Problem]:
    """Every problem of a directory file (YAML), in line order; [] when it is valid."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        return [Problem(line, "", f"not valid YAML: {exc.problem or exc}")]
    except yaml.YAMLError as exc:
        return [Problem(1, "", f"not valid YAML: {exc}")]
    finally:
        loader.dispose()
    if node is None or not isinstance(data, dict):
        return [Problem(1, "", "expected a mapping with version, providers and coordinators")]

    lines: dict[Loc, int] = {}
    problems = _index_lines(node, (), 1, lines)

    def line_of(loc: Loc) -> int:
        for end in range(len(loc), -1, -1):
            if loc[:end] in lines:
                return lines[loc[:end]]
        return 1

    try:
        Directory.model_validate(data, context={"skip_cross_checks": True})
    except ValidationError as exc:
        for error in exc.errors():
            loc = tuple(error["loc"])
            problems.append(Problem(line_of(loc), format_path(loc), _message(error)))
    for loc, message in directory_wide_problems(data):
        problems.append(Problem(line_of(loc), format_path(loc), message))
    return sorted(problems)


def _message(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "literal_error":
        return f"unknown value {error.get('input')!r} (expected {error['ctx']['expected']})"
    if error["type"] in ("string_pattern_mismatch", "value_error"):
        got = error.get("input")
        if isinstance(got, str | int) and repr(got) not in message:
            message = f"{message} (got {got!r})"
    return message


def _index_lines(node: yaml.Node, loc: Loc, line: int, out: dict[Loc, int]) -> list[Problem]:
    """Record the 1-based line of every path in the node tree; report duplicate keys."""
    out[loc] = line
    problems: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            key_line = key_node.start_mark.line + 1
            if key in seen:
                problems.append(
                    Problem(key_line, format_path((*loc, key)), f"key {key!r} given twice")
                )
            seen.add(key)
            problems += _index_lines(value_node, (*loc, key), key_line, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            problems += _index_lines(item, (*loc, i), item.start_mark.line + 1, out)
    return problems
