"""The views the notify API answers with (read from the records ``reading`` queries)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from shared.events.notify import Channel, ErrorKind, FailureReason, RecipientKind


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


class DeadLetterView(BaseModel):
    notification_id: str
    referral_id: str | None
    recipient_kind: RecipientKind
    recipient_id: str
    channel: Channel
    reason: FailureReason
    attempts: int
    last_status_code: int | None
    last_error_kind: ErrorKind | None
    failed_at: datetime
