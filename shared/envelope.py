"""The CloudEvents 1.0 envelope every Safepath event travels in.

Core attributes: specversion, id (UUIDv7), source (``safepath/<service>``), type
(``org.safepath.<service>.<EventName>.v<N>``), subject (the stream/aggregate id), time,
datacontenttype, dataschema. Extensions (lower-case, string or integer, as the spec
requires): streamversion, correlationid, causationid, actor (``<role>:<subject>``), and
the distributed-tracing extension's traceparent and tracestate (W3C Trace Context; only
on events appended inside a trace, see ``shared/tracing.py``).
On the bus it is structured-mode JSON.
"""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared import jsontext
from shared.rfc3339 import format_time as format_time  # used here and by shared.digest

# Where the JSON Schema of every event type is published: ``docs/schemas/<type>.json``
# in the repository (``safepath contract`` writes them from the models; a test keeps them
# in step). An installation that serves that directory at an absolute URL sets
# ``SAFEPATH_SCHEMA_BASE_URL`` (CloudEvents asks ``dataschema`` to be an absolute URI);
# without it ``dataschema`` is the repository path, a relative URI reference. It is
# derived when an event is published, never stored or hashed: a new base changes only
# later publications (and is covered by their signature).
SCHEMA_PATH = "docs/schemas"
SCHEMA_BASE_VARIABLE = "SAFEPATH_SCHEMA_BASE_URL"


class Actor(BaseModel):
    """Who caused an event: a person's account subject and role, or a service."""

    model_config = ConfigDict(frozen=True)

    sub: str = Field(min_length=1, max_length=200)
    role: str = Field(min_length=1, max_length=40, pattern=r"^[a-z_]+$")

    def encode(self) -> str:
        return f"{self.role}:{self.sub}"

    @classmethod
    def decode(cls, value: str) -> Actor:
        role, _, sub = value.partition(":")
        return cls(role=role, sub=sub)

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(role="service", sub=name)


class Envelope(BaseModel):
    """A CloudEvent as Safepath writes it. ``data`` is the event model dumped to JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    source: str
    type: str
    subject: str
    time: datetime
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str
    streamversion: int = Field(ge=1)
    correlationid: str
    causationid: str | None = None
    actor: str
    data: dict[str, Any]
    # CloudEvents distributed tracing: the trace the event was written in. Absent (not
    # null) when there is none, so events written before tracing look as they did.
    traceparent: str | None = Field(default=None, max_length=128)
    tracestate: str | None = Field(default=None, max_length=512)
    # Ed25519 signature of the publishing service (shared/signatures.py); absent in the store.
    signature: str | None = None

    @field_validator("time")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("time must carry a timezone")
        return v.astimezone(UTC)

    @property
    def service(self) -> str:
        return self.source.removeprefix("safepath/")

    @property
    def event_name(self) -> str:
        return self.type.split(".")[3]

    def to_dict(self) -> dict[str, Any]:
        d = self.model_dump(mode="json", exclude_none=True)
        d["time"] = format_time(self.time)
        return d

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def from_json(cls, raw: bytes | str) -> Envelope:
        """Parse structured-mode JSON. Raises ValueError (incl. pydantic's) on bad input."""
        doc = jsontext.loads(raw)  # as the signature check read it
        if not isinstance(doc, dict):
            raise ValueError("a CloudEvent must be a JSON object")
        return cls.model_validate(doc)


def schema_base() -> str:
    """``SAFEPATH_SCHEMA_BASE_URL`` (an absolute http(s) URL) or ``docs/schemas``."""
    configured = os.environ.get(SCHEMA_BASE_VARIABLE, "").strip()
    if not configured:
        return SCHEMA_PATH
    if not re.match(r"^https?://[^\s/?#]+(/[^\s?#]*)?$", configured):
        raise ValueError(f"{SCHEMA_BASE_VARIABLE} must be an absolute http(s) URL")
    return configured.rstrip("/")


def dataschema_for(type_name: str, base: str | None = None) -> str:
    """The ``dataschema`` of events of ``type_name``: ``<base>/<type>.json``."""
    return f"{base if base is not None else schema_base()}/{type_name}.json"
