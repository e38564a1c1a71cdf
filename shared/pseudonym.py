"""Pseudonymous case references: what providers see instead of a case id."""

from __future__ import annotations

import base64
import hashlib
import hmac


def case_reference(key: bytes, case_id: str) -> str:
    """A stable reference to a case: HMAC-SHA256(key, case id), 80 bits.

    Without the key nobody can go from the reference back to the case id (or check a
    guess); services holding the key (``SAFEPATH_CASE_REFERENCE_KEY``) all show the same
    reference. Shown as e.g. ``SP-7Q2M-K4ZD-W9NB-3RTE`` (base32 in groups of four, easy
    to read out on a phone).
    """
    if not key:
        raise ValueError("case reference key must not be empty")
    digest = hmac.new(key, case_id.encode(), hashlib.sha256).digest()[:10]
    code = base64.b32encode(digest).decode()
    return "SP-" + "-".join(code[i : i + 4] for i in range(0, 16, 4))
