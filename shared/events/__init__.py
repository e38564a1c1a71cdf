"""Event schemas shared by all services, and the registry that reads them back."""

from shared.events.base import Event, Sealed
from shared.events.registry import Registry, UnknownEventType, registry

__all__ = ["Event", "Registry", "Sealed", "UnknownEventType", "registry"]
