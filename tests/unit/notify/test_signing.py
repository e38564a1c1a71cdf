"""Webhook deliveries verify with the standardwebhooks library; tampering and rotation."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.notify.app.webhooks import generate_secret
from services.notify.domain.signing import (
    SECRET_BYTES,
    WebhookSecret,
    active_secrets,
    rotate,
    secret_from_bytes,
    sign,
)

BODY = json.dumps({"specversion": "1.0", "id": "n-1", "data": {"needs": ["shelter"]}})


def now() -> datetime:
    # standardwebhooks checks the timestamp against the wall clock (5 minutes' tolerance).
    return datetime.now(UTC)


def test_a_signed_delivery_verifies_with_standardwebhooks() -> None:
    secret = generate_secret()
    headers = sign(secret, "n-1", now(), BODY.encode())

    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "n-1"
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_a_tampered_body_fails_verification() -> None:
    secret = generate_secret()
    headers = sign(secret, "n-1", now(), BODY)
    tampered = BODY.replace("shelter", "legal_aid")
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, headers)


def test_a_changed_id_or_timestamp_fails_verification() -> None:
    secret = generate_secret()
    headers = sign(secret, "n-1", now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-id": "n-2"})
    later = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, {**headers, "webhook-timestamp": later})


def test_another_providers_secret_does_not_verify() -> None:
    headers = sign(generate_secret(), "n-1", now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_during_rotation_each_of_the_overlapping_secrets_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    t = now()
    ring = rotate([WebhookSecret(old)], new, t, overlap=timedelta(hours=24))

    headers = sign(active_secrets(ring, t), "n-1", t, BODY)

    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(old).verify(BODY, headers)
    assert Webhook(new).verify(BODY, headers)


def test_after_the_overlap_only_the_new_secret_signs() -> None:
    old, new = generate_secret(), generate_secret()
    t = now()
    ring = rotate([WebhookSecret(old)], new, t - timedelta(hours=25), overlap=timedelta(hours=24))

    headers = sign(active_secrets(ring, t), "n-1", t, BODY)

    assert Webhook(new).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(BODY, headers)


def test_rotating_again_drops_expired_secrets_and_keeps_earlier_expiries() -> None:
    t = datetime(2026, 11, 23, tzinfo=UTC)
    a, b, c = (secret_from_bytes(bytes([i]) * 32) for i in (1, 2, 3))
    ring = rotate([WebhookSecret(a, expires_at=t - timedelta(seconds=1))], b, t, timedelta(hours=1))
    assert [s.secret for s in ring] == [b]
    ring = rotate(ring, c, t, timedelta(hours=1))
    ring = rotate(ring, a, t + timedelta(minutes=30), timedelta(hours=1))
    assert [(s.secret, s.expires_at) for s in ring] == [
        (b, t + timedelta(hours=1)),
        (c, t + timedelta(minutes=90)),
        (a, None),
    ]


def test_secrets_are_whsec_base64_and_fresh_each_time() -> None:
    s = generate_secret()
    assert s.startswith("whsec_") and s != generate_secret()
    assert secret_from_bytes(b"\x00" * 24) == "whsec_" + "A" * 32
    # The randomness is the shell's, passed in: the same bytes make the same secret.
    asked: list[int] = []

    def zeros(n: int) -> bytes:
        asked.append(n)
        return b"\x00" * n

    assert generate_secret(zeros) == secret_from_bytes(b"\x00" * SECRET_BYTES)
    assert asked == [SECRET_BYTES]
    with pytest.raises(ValueError):
        secret_from_bytes(b"short")
    with pytest.raises(ValueError):
        sign([], "n-1", now(), BODY)
    with pytest.raises(ValueError):
        sign(s, "n-1", datetime(2026, 1, 1), BODY)  # naive time: ambiguous, refused


def test_a_unix_timestamp_signs_the_same_as_the_datetime() -> None:
    s, t = generate_secret(), now().replace(microsecond=0)
    assert sign(s, "n-1", int(t.timestamp()), BODY) == sign(s, "n-1", t, BODY)
