"""JSON read on the hot paths (every message a consumer receives, checked and then decoded;
every event a relay reads back from the store) by orjson, with the values the standard
library gives.

Where orjson could give another value, the standard library reads instead: orjson reads
an integer past 64 bits as a float without a word (so a text holding a run of 19 digits
is read by ``json``), and refuses what ``json`` accepts (``NaN``, ``Infinity``, numbers
past the float range, lone surrogates; read by ``json``, as before, which also raises the
same errors as before).

A signature check and the decoding after it must read the same values from the same
bytes, or a message could be verified as one thing and used as another: both use
``loads`` (``shared.signatures``, ``shared.envelope``). Writing stays with ``json`` here:
orjson writes a NaN as ``null``, and ruling that out walks the value, which cost more
than the encoding saved on the services' documents (most hold a ``null``). This module
imports only the standard library and orjson (``shared.digest`` depends on it).
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson

# A number token orjson may read as a float where ``json`` reads an integer: 19 digits in
# a row, found by turning every digit into "0" and looking for nineteen of them (a regex
# ``[0-9]{19}`` took 30 µs on a 1 kB message, five times orjson's whole read). A run
# inside a string only costs the slower reader.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_NUMBER = b"0" * 19


def finite(value: Any) -> bool:
    """No NaN or infinity anywhere in ``value`` (orjson writes them as ``null``)."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(finite(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite(v) for v in value)
    return True


def loads(text: str | bytes) -> Any:
    """``json.loads(text)``: the same values, or the same error, faster."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    if raw.translate(_DIGITS_AS_ZERO).find(_LONG_NUMBER) < 0:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass  # json accepts some of what orjson refuses, or raises its own error
    return json.loads(text)
