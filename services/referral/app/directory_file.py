"""A directory file on disk: read here, parsed by the pure ``domain.directory``."""

from __future__ import annotations

from pathlib import Path

from services.referral.domain.directory import Directory, parse_directory


def load_directory(path: str | Path) -> Directory:
    """Read and parse a directory file; raises ``DirectoryInvalid`` with every problem."""
    return parse_directory(Path(path).read_text(encoding="utf-8"))
