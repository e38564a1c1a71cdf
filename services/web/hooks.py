"""Pages that other parts of Safepath will provide, announced in the navigation.

The handover of an accepted referral is being built as an API (issue 13). When it lands, its page is a route module like ``routes_statistics.py`` calling that API
with the person's token; add the module to ``PAGE_MODULES`` in ``main.py`` and set
``path`` here (as was done for statistics and possible duplicates). Until then the link leads to a page saying it
is not there yet (never to a page pretending to work)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hook:
    key: str  # also the template's heading key, see hooks.html
    roles: tuple[str, ...]
    path: str | None = None  # the page, once built; None: "not available yet"


HOOKS: tuple[Hook, ...] = (
    Hook("statistics", ("supervisor", "auditor", "coordinator", "admin"), "/statistics"),
    Hook("duplicates", ("supervisor",), "/duplicates"),
    Hook("handover", ("provider", "caseworker")),
)
