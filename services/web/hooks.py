"""Pages that other parts of Safepath will provide, announced in the navigation.

Statistics (issue 13), possible duplicates (issue 14) and the handover of an accepted
referral (issue 15) are being built as APIs. When one lands, its page is a route module
like ``routes_supervise.py`` calling that API with the person's token; add the module to
``main.py`` and set ``path`` here. Until then the link leads to a page saying it is not
there yet (never to a page pretending to work)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hook:
    key: str  # also the template's heading key, see hooks.html
    roles: tuple[str, ...]
    path: str | None = None  # the page, once built; None: "not available yet"


HOOKS: tuple[Hook, ...] = (
    Hook("statistics", ("supervisor", "auditor", "coordinator", "admin"), "/statistics"),
    Hook("duplicates", ("supervisor",)),
    Hook("handover", ("provider", "caseworker")),
)
