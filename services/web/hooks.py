"""Pages announced in the navigation, with the roles that see them.

Every announced page has landed (statistics, possible duplicates; the handover page is
reached from the provider's inbox, not the navigation). When another API lands, its page
is a route module like ``routes_statistics.py`` calling that API with the person's token;
add the module to ``PAGE_MODULES`` in ``main.py`` and a ``Hook`` here. A hook without a
``path`` leads to a page saying it is not there yet (never to a page pretending to work)."""

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
)
