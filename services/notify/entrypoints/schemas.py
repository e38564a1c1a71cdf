"""Request and response bodies of the notify HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.events.notify import Channel, ErrorKind, FailureReason, RecipientKind


class WebhookRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(
        min_length=1,
        max_length=500,
        examples=["https://shelter.example.org/safepath/hooks"],
        description="A public HTTPS endpoint: no user information, no loopback, private, "
        "link-local or reserved address, an IP address only as a.b.c.d or [IPv6]. Plain "
        "http:// only to a development receiver on SAFEPATH_NOTIFY_WEBHOOK_ALLOW_HOSTS, "
        "in development and test. See docs/notify.md.",
    )
    rotate: bool = Field(
        default=False,
        description="Make a new signing secret; the old one keeps signing for the overlap.",
    )


class WebhookView(BaseModel):
    provider_id: str
    url: str
    secret: str | None = Field(
        description="The new `whsec_...` signing secret: shown only when it is made "
        "(first registration or rotation). Store it; it cannot be read again.",
    )
    active_secrets: int = Field(description="Secrets deliveries are signed with right now.")
    previous_secrets_expire_at: datetime | None = Field(
        description="When rotated-out secrets stop signing (null: none are overlapping).",
    )


class AttemptView(BaseModel):
    channel: Channel
    attempt: int
    status_code: int | None
    error_kind: ErrorKind | None
    latency_ms: float
    succeeded: bool
    attempted_at: datetime


class NotificationView(BaseModel):
    notification_id: str
    recipient_kind: RecipientKind
    recipient_id: str
    template: str
    language: str
    channels: list[Channel]
    status: Literal["queued", "delivered", "failed"]
    queued_at: datetime
    attempts: list[AttemptView]


class ReferralNotifications(BaseModel):
    referral_id: str
    notifications: list[NotificationView]


class DeadLetterView(BaseModel):
    notification_id: str
    referral_id: str
    recipient_kind: RecipientKind
    recipient_id: str
    channel: Channel
    reason: FailureReason
    attempts: int
    last_status_code: int | None
    last_error_kind: ErrorKind | None
    failed_at: datetime


class DeadLetters(BaseModel):
    dead_letters: list[DeadLetterView]


class RedeliveryAccepted(BaseModel):
    notification_id: str
    channels: list[Channel]
