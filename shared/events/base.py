"""The base of every Safepath event schema.

An event is a frozen pydantic model. Its CloudEvents `type` is derived from the
owning service, the class name and the schema version:
``org.safepath.<service>.<EventName>.v<N>``. A schema change adds a version and
an upcaster (see ``registry``); stored events are never edited.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """A fact that happened. Subclasses set ``service`` and, when changed, ``version``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: ClassVar[str] = ""
    version: ClassVar[int] = 1

    @classmethod
    def name(cls) -> str:
        return cls.__name__

    @classmethod
    def type_name(cls) -> str:
        return f"org.safepath.{cls.service}.{cls.__name__}.v{cls.version}"


class Sealed(BaseModel):
    """Identifying data encrypted with a per-case key (AES-256-GCM).

    Events carry only this ciphertext; the key lives in its own table. Deleting
    the key (erasure) leaves the event, and its hash, intact but unreadable.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    alg: str = "AES-256-GCM"
    kid: str
    nonce: str
    ct: str
