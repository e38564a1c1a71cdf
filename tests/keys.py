"""The event signing keys of this test session, one per service, made at import.

Tests that publish events "as service X would" sign them with X's key here; the services
under test verify with ``VERIFY_KEYS``. Generated per session: no key lives in the code.
"""

from __future__ import annotations

import json
from typing import Any

from shared.envelope import Envelope
from shared.signatures import EventSigner, format_verify_keys, new_signing_key

SERVICES = ("case", "referral", "notify")
SIGNING_KEYS = {service: new_signing_key() for service in SERVICES}
VERIFY_KEYS = format_verify_keys(SIGNING_KEYS)


def signed(env: Envelope | dict[str, Any], service: str | None = None) -> bytes:
    """The envelope as the relay of its source service (or ``service``) would publish it."""
    doc = env.to_dict() if isinstance(env, Envelope) else dict(env)
    signer_of = service or str(doc["source"]).removeprefix("safepath/")
    doc = EventSigner(SIGNING_KEYS[signer_of]).sign(doc)
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()


def bus_values(service: str) -> dict[str, str]:
    """The signing settings of ``service`` (credentials come per test and namespace)."""
    return {"event_signing_key": SIGNING_KEYS[service], "event_verify_keys": VERIFY_KEYS}
