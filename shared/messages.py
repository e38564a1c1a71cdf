"""What a subscriber receives: the CloudEvent with its ``data`` as the typed event.

``message_model(name, events)`` builds, per consumer, a model of the envelope whose
``data`` is one of ``events``: the payload of its FastStream handler, and so of the
AsyncAPI document. The data is not validated from JSON by that model: which event it is
is said by the envelope's ``type`` (two events may share their fields, an old version is
upcast first), so ``received`` builds the message from what ``parse_message`` read
through the registry, after the signature was checked (``shared.consumer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

from pydantic import PrivateAttr, create_model

from shared.envelope import Envelope
from shared.events.base import Event


class EventMessage(Envelope):
    """A CloudEvent as a consumer gets it: ``data`` is the event model (see ``event``)."""

    _received: Envelope | None = PrivateAttr(default=None)

    @property
    def envelope(self) -> Envelope:
        """The envelope exactly as it arrived (its data as sent, with the signature)."""
        assert self._received is not None, "built by received(), not from JSON"
        return self._received

    @property
    def event(self) -> Event:
        data = self.data
        assert isinstance(data, Event)
        return data


def message_model(name: str, events: Sequence[type[Event]]) -> type[EventMessage]:
    """The message model of a consumer of ``events`` (at least one), named ``name``."""
    if not events:
        raise ValueError(f"{name} handles no event types")
    ordered = tuple(sorted(set(events), key=lambda e: e.type_name()))
    data: Any = ordered[0] if len(ordered) == 1 else Union[ordered]  # noqa: UP007
    model: type[EventMessage] = create_model(
        name,
        __base__=EventMessage,
        __doc__=f"A CloudEvent whose data is one of: {', '.join(e.__name__ for e in ordered)}.",
        data=(data, ...),
    )
    return model


def received(model: type[EventMessage], env: Envelope, event: Event) -> EventMessage:
    """``env`` with ``event`` as its data, as an instance of ``model`` (no re-validation)."""
    message = model.model_construct(**{**dict(env), "data": event})
    message._received = env
    return message
