"""Standard Webhooks signatures (https://www.standardwebhooks.com/), so any receiver can
verify a delivery with an off-the-shelf library.

Headers: ``webhook-id`` (the notification id, stable across retries), ``webhook-timestamp``
(Unix seconds), ``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``).
Secrets are ``whsec_<base64>``. A provider rotates its secret with an overlap: while
several secrets are active, every delivery carries one signature per secret, space
separated, so the receiver may switch keys at its own pace.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Protocol, Self, TypeVar

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


@dataclass(frozen=True)
class WebhookSecret:
    """One of a provider's signing secrets; ``expires_at`` None = active until rotated."""

    secret: str
    expires_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at

    def expiring(self, at: datetime) -> WebhookSecret:
        return replace(self, expires_at=at)


class Expiring(Protocol):
    """A secret as rotation sees it: only its expiry (so a stored, encrypted one will do)."""

    @property
    def expires_at(self) -> datetime | None: ...

    def active_at(self, now: datetime) -> bool: ...

    def expiring(self, at: datetime) -> Self: ...


E = TypeVar("E", bound=Expiring)


def secret_from_bytes(entropy: bytes) -> str:
    """A ``whsec_`` secret from random bytes (24 to 64 of them, per the specification;
    ``SECRET_BYTES`` for new ones). The bytes come from the shell: this module is pure."""
    if not 24 <= len(entropy) <= 64:
        raise ValueError("a webhook secret is 24 to 64 random bytes")
    return SECRET_PREFIX + base64.b64encode(entropy).decode()


def sign(
    secret: str | Sequence[str], msg_id: str, timestamp: int | datetime, body: bytes | str
) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body``, signed with each secret given."""
    keys = [secret] if isinstance(secret, str) else list(secret)
    if not keys:
        raise ValueError("at least one secret is needed to sign")
    when = _as_datetime(timestamp)
    text = body.decode() if isinstance(body, bytes) else body
    signatures = " ".join(Webhook(k).sign(msg_id, when, text) for k in keys)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signatures,
    }


def active_secrets(secrets: Sequence[WebhookSecret], now: datetime) -> list[str]:
    """The secrets to sign with at ``now``, newest last."""
    return [s.secret for s in secrets if s.active_at(now)]


def rotate(
    secrets: Sequence[WebhookSecret], new_secret: str, now: datetime, overlap: timedelta
) -> tuple[WebhookSecret, ...]:
    """Add ``new_secret``; the old active ones stay valid for ``overlap`` more, then expire.

    Already-expired secrets are dropped. A secret that would expire sooner keeps its date.
    """
    Webhook(new_secret)  # refuse a malformed secret now, not at the first delivery
    return (*retire(secrets, now, overlap), WebhookSecret(new_secret))


def retire(secrets: Sequence[E], now: datetime, overlap: timedelta) -> list[E]:
    """The secrets still active at ``now``, each expiring ``overlap`` later at the latest
    (one that would expire sooner keeps its date); expired ones are dropped."""
    until = now + overlap
    return [
        s if s.expires_at is not None and s.expires_at <= until else s.expiring(until)
        for s in secrets
        if s.active_at(now)
    ]


def _as_datetime(timestamp: int | datetime) -> datetime:
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        return timestamp.astimezone(UTC)
    return datetime.fromtimestamp(timestamp, tz=UTC)
