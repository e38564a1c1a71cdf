"""What a signature covers is spelled as it always was (issue 12: the body is now written
by orjson where it spells JSON as the reference encoder does).

Events signed by an earlier release stay on the streams and are redelivered after a
restart or a replay: a body spelled differently by today's verifier would reject every
one of them. So: for any envelope as a consumer parses it from the wire, the signed body
is the reference encoder's bytes, and a signature made over those bytes verifies.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.signatures import EXTENSION, EventVerifier, canonical_body
from tests.unit.shared.test_canonical import json_values

_REFERENCE = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)

envelopes = st.fixed_dictionaries(
    {"source": st.just("safepath/case"), "type": st.text(max_size=20)},
    optional={"data": json_values, "subject": st.text(max_size=12), "x": json_values},
)


def _reference_body(doc: dict[str, Any]) -> bytes:
    return _REFERENCE.encode({k: v for k, v in doc.items() if k != EXTENSION}).encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes)
def test_the_signed_body_is_the_reference_spelling(doc: dict[str, Any]) -> None:
    wire = json.loads(json.dumps({**doc, EXTENSION: "sig"}))  # as a consumer reads it
    assert canonical_body(wire) == _reference_body(wire)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelopes)
def test_an_event_signed_over_the_reference_spelling_verifies(doc: dict[str, Any]) -> None:
    key = Ed25519PrivateKey.generate()
    signature = base64.b64encode(key.sign(_reference_body(doc))).decode()
    verifier = EventVerifier({"case": key.public_key()}, "ns")
    assert verifier.verify_doc({**doc, EXTENSION: signature}) == "case"


def test_numbers_orjson_would_spell_otherwise_are_signed_as_before() -> None:
    for value in (1e-05, 1e16, 2**70, 1.5e300, -0.0, 0.00001234):
        doc = {"source": "safepath/case", "data": {"n": value}}
        assert canonical_body(doc) == _reference_body(doc), value
