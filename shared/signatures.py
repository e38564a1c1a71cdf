"""Events signed by the service that wrote them, verified by every consumer.

The bus is not a trusted place: a leaked credential or a compromised broker must not be
able to put words in a service's mouth. The relay signs each CloudEvent it publishes
with its service's Ed25519 key (kept outside the database, like the audit key); the
signature covers the canonical JSON of the whole envelope (sorted keys, no spaces,
without the ``signature`` attribute itself) and travels as the CloudEvents extension
``signature`` (base64). A consumer accepts an event only when

- its ``source`` names a service whose public key it holds, and the signature verifies;
- the subject it arrived on is that service's (``<ns>.<service>.<stream>.<EventName>``),
  with the event's own name, and the JetStream stream is that service's stream.

Anything else is rejected with a reason that is safe to log (no payload inside).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from shared import jsontext
from shared.digest import canonical_bytes

EXTENSION = "signature"
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")


class BadSignature(ValueError):
    """An event that must not be applied; the message is safe to log."""


def canonical_body(doc: Mapping[str, Any]) -> bytes:
    """What is signed: the envelope without its signature, in one JSON spelling (sorted
    keys, no spaces, UTF-8 as is: ``shared.digest.canonical_bytes``, the reference
    encoder's bytes, written by orjson where it spells them alike)."""
    return canonical_bytes({k: v for k, v in doc.items() if k != EXTENSION})


def new_signing_key() -> str:
    """A fresh Ed25519 seed, base64: one per service and installation."""
    return base64.b64encode(os.urandom(32)).decode()


def load_private(seed_b64: str) -> Ed25519PrivateKey:
    try:
        seed = base64.b64decode(seed_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("an event signing key is a base64 Ed25519 seed") from None
    if len(seed) != 32:
        raise ValueError("an event signing key is a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_b64(seed_b64: str) -> str:
    key = load_private(seed_b64).public_key()
    return base64.b64encode(key.public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def parse_verify_keys(text: str) -> dict[str, Ed25519PublicKey]:
    """``case=<b64>,referral=<b64>,...`` into public keys by service."""
    keys: dict[str, Ed25519PublicKey] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        service, sep, value = item.strip().partition("=")
        if not sep or not service:
            raise ValueError("event verify keys are written service=<base64 public key>")
        try:
            raw = base64.b64decode(value, validate=True)
            keys[service] = Ed25519PublicKey.from_public_bytes(raw)
        except (binascii.Error, ValueError):
            raise ValueError(f"the event verify key of {service!r} is not an Ed25519 key") from None
    return keys


def format_verify_keys(seeds: Mapping[str, str]) -> str:
    return ",".join(f"{service}={public_b64(seed)}" for service, seed in seeds.items())


class EventSigner:
    """Signs the envelopes one service publishes."""

    def __init__(self, seed_b64: str) -> None:
        self._key = load_private(seed_b64)

    def sign(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with its ``signature`` attribute set."""
        signature = self._key.sign(canonical_body(doc))
        return {**doc, EXTENSION: base64.b64encode(signature).decode()}


@dataclass(frozen=True)
class EventVerifier:
    """Checks that an event was written by the service it claims, on that service's stream."""

    keys: Mapping[str, Ed25519PublicKey]
    namespace: str

    @classmethod
    def from_text(cls, text: str, namespace: str) -> EventVerifier:
        return cls(parse_verify_keys(text), namespace)

    def verify_doc(self, doc: Mapping[str, Any]) -> str:
        """The signing service of ``doc``, or ``BadSignature``."""
        source = doc.get("source")
        if not isinstance(source, str) or not source.startswith("safepath/"):
            raise BadSignature("event source is not a Safepath service")
        service = source.removeprefix("safepath/")
        key = self.keys.get(service)
        if key is None:
            raise BadSignature(f"no key is trusted for source {service[:40]!r}")
        signature = doc.get(EXTENSION)
        if not isinstance(signature, str):
            raise BadSignature("event is not signed")
        try:
            key.verify(base64.b64decode(signature, validate=True), canonical_body(doc))
        except (InvalidSignature, binascii.Error, ValueError):
            raise BadSignature(f"signature does not verify for source {service!r}") from None
        return service

    def verify(self, raw: bytes, *, subject: str, stream: str | None) -> None:
        """Verify a message as it arrived: signature, then that subject and stream agree."""
        try:
            doc = jsontext.loads(raw)  # as ``Envelope.from_json`` reads it after
        except (ValueError, UnicodeDecodeError):
            raise BadSignature("not JSON") from None
        if not isinstance(doc, dict):
            raise BadSignature("not a JSON object")
        service = self.verify_doc(doc)
        tokens = subject.split(".")
        if len(tokens) != 4 or tokens[0] != self.namespace or tokens[1] != service:
            raise BadSignature(f"event of {service!r} arrived on another service's subject")
        event_type = doc.get("type")
        name = event_type.split(".")[3] if isinstance(event_type, str) else ""
        aggregate = doc.get("subject")
        if (
            tokens[3] != name
            or not isinstance(aggregate, str)
            or tokens[2] != _UNSAFE.sub("_", aggregate)
        ):
            raise BadSignature("event type or stream id does not match its subject")
        expected = f"{self.namespace}_{service}".upper()
        if stream is not None and stream != expected:
            raise BadSignature(f"event of {service!r} arrived on stream {stream[:60]!r}")
