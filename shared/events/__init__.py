"""Event schemas shared by all services, and the registry that reads them back."""

from shared.events.base import Event, Sealed
from shared.events.registry import Registry, UnknownEventType, registry

__all__ = ["Event", "Registry", "Sealed", "UnknownEventType", "registry"]

# Every process knows every schema: a consumer must be able to read any service's events.
from shared.events import (  # noqa: F401
    case,
    case_emergency,
    case_person,
    case_plan,
    case_reflection,
    case_transfer,
    notify,
    referral,
)
