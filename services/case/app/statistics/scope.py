"""Who may read the statistics, and over which cases (docs/statistics.md, "Who sees what").

Aggregates only, so more roles read them than read cases; a regional role reads its
region's cases (their region now, as for a case read), a national one all of them.
"""

from __future__ import annotations

from shared.auth import Principal

STATISTICS_ROLES = ("supervisor", "auditor", "coordinator", "admin")


class NoScope(Exception):
    """A token that may not read statistics (a supervisor without a region)."""


def region_scope(principal: Principal) -> str | None:
    """The one region the caller's statistics cover; None: the whole country."""
    match principal.role:
        case "supervisor":
            if principal.region is None:
                raise NoScope  # a supervisor's scope is their region (docs/security.md)
            return principal.region
        case "auditor" | "coordinator":
            return principal.region
        case "admin":
            return None
        case _:
            raise NoScope
