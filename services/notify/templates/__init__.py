"""Message templates, one JSON file per language (``en`` is required: it is the fallback).

Each file holds ``templates`` (name → ``str.format`` text using only the placeholders
``services.notify.domain.rendering.PLACEHOLDERS`` allows) and ``labels`` translating
vocabulary codes. Editing a file changes the wording without touching code.
"""

from __future__ import annotations

import json
from pathlib import Path

from services.notify.domain.rendering import TemplateSet

TEMPLATE_DIR = Path(__file__).parent


def load_templates(directory: Path = TEMPLATE_DIR) -> TemplateSet:
    """Read every ``<language>.json`` in ``directory``; raises ``TemplateError`` if unusable."""
    documents = {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }
    return TemplateSet.from_documents(documents)
