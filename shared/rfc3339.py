"""The one spelling of a time used in hashes and on the bus.

A module of its own, standard library only: the event contract (``shared.envelope``,
which a domain may import) and the digests (``shared.digest``, which a verification
worker imports without pydantic) both spell times with it.
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(t: datetime) -> str:
    """RFC 3339 in UTC with microseconds: the one spelling used in hashes and on the bus."""
    return t.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
