"""Maps CloudEvents ``type`` strings to event models, upcasting old versions on read."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shared.events.base import Event

E = TypeVar("E", bound=type[Event])
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]

_TYPE_RE = re.compile(r"^org\.safepath\.(?P<service>[a-z_]+)\.(?P<name>[A-Za-z]+)\.v(?P<v>\d+)$")


class UnknownEventType(LookupError):
    """The type string names no registered event (or no path of upcasters to it)."""


class Registry:
    """Every event schema Safepath knows, keyed by (service, name)."""

    def __init__(self) -> None:
        self._current: dict[tuple[str, str], type[Event]] = {}
        self._upcasters: dict[tuple[str, str, int], Upcaster] = {}

    def register(self, cls: E) -> E:
        if not cls.service:
            raise ValueError(f"{cls.__name__} has no service")
        key = (cls.service, cls.__name__)
        if key in self._current and self._current[key] is not cls:
            raise ValueError(f"{cls.type_name()} registered twice")
        self._current[key] = cls
        return cls

    def upcaster(
        self, service: str, name: str, from_version: int
    ) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning data of ``from_version`` into ``from_version + 1``."""

        def add(fn: Upcaster) -> Upcaster:
            self._upcasters[(service, name, from_version)] = fn
            return fn

        return add

    def model_for(self, type_name: str) -> type[Event]:
        service, name, _ = self.parse_type(type_name)
        try:
            return self._current[(service, name)]
        except KeyError:
            raise UnknownEventType(type_name) from None

    @staticmethod
    def parse_type(type_name: str) -> tuple[str, str, int]:
        m = _TYPE_RE.match(type_name)
        if m is None:
            raise UnknownEventType(type_name)
        return m["service"], m["name"], int(m["v"])

    def load(self, type_name: str, data: Mapping[str, Any]) -> Event:
        """Validate stored or received data into the current model, upcasting as needed.

        Raises ``UnknownEventType`` or pydantic's ``ValidationError``.
        """
        service, name, v = self.parse_type(type_name)
        cls = self.model_for(type_name)
        if v > cls.version:
            raise UnknownEventType(f"{type_name} is newer than this code ({cls.version})")
        payload = dict(data)
        while v < cls.version:
            try:
                payload = self._upcasters[(service, name, v)](payload)
            except KeyError:
                raise UnknownEventType(f"no upcaster for {type_name} v{v}") from None
            v += 1
        return cls.model_validate(payload)

    def known_types(self) -> list[str]:
        return sorted(c.type_name() for c in self._current.values())

    def models(self, service: str | None = None) -> list[type[Event]]:
        """The current model of every type (of ``service``'s types only, when given)."""
        found = (c for c in self._current.values() if service is None or c.service == service)
        return sorted(found, key=lambda c: c.type_name())

    def upcasters(self) -> list[tuple[str, str, int]]:
        """``(service, name, from_version)`` of every registered upcaster."""
        return sorted(self._upcasters)


registry = Registry()
