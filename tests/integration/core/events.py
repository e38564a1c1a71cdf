"""Small events used only by the platform tests, in a registry of their own."""

from __future__ import annotations

from typing import ClassVar

from shared.envelope import Actor
from shared.events import Event, Registry
from shared.eventstore import NewEvent

test_registry = Registry()
ACTOR = Actor(sub="tester", role="caseworker")


@test_registry.register
class Noted(Event):
    service: ClassVar[str] = "case"
    n: int
    text: str = ""


def noted(n: int, text: str = "") -> NewEvent:
    return NewEvent(Noted(n=n, text=text), ACTOR, correlation_id=f"corr-{n}")


@test_registry.register
class Tagged(Event):
    """An event some consumers do not read."""

    service: ClassVar[str] = "case"
    tag: str
