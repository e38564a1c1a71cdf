"""Request and response bodies of the notify HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.notify.app.views import AttemptView, DeadLetterView, NotificationView
from shared.events.notify import Channel

__all__ = [
    "AttemptView",
    "DeadLetterView",
    "DeadLetters",
    "NotificationView",
    "RedeliveryAccepted",
    "ReferralNotifications",
    "WebhookRegistration",
    "WebhookView",
]


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


class ReferralNotifications(BaseModel):
    referral_id: str
    notifications: list[NotificationView]


class DeadLetters(BaseModel):
    dead_letters: list[DeadLetterView]


class RedeliveryAccepted(BaseModel):
    notification_id: str
    channels: list[Channel]
