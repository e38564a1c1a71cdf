"""Times that clients send (query parameters and request bodies).

Use ``UtcDatetime`` for every such field: it requires an RFC 3339 offset and converts the
value to UTC while validating, so a time that exists with its offset but not in UTC
(``9999-12-31T23:59:59-12:00`` is in the year 10000 there) is a 422 naming the field,
instead of an overflow later in the database driver (a 500)::

    as_of: Annotated[UtcDatetime | None, Query()] = None
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

Clock = Callable[[], datetime]
"""What a service asks for the time: ``bootstrap`` passes one in, tests a fixed one."""


def utc_now() -> datetime:
    """The real clock, in UTC."""
    return datetime.now(UTC)


def in_utc(value: datetime) -> datetime:
    """``value`` in UTC; ``ValueError`` (never quoting the value) if UTC cannot hold it."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is outside years 1 to 9999 once converted to UTC") from None


UtcDatetime = Annotated[AwareDatetime, AfterValidator(in_utc)]
"""An aware datetime (RFC 3339 with offset), normalised to UTC."""
