"""The notify service's own settings (``SAFEPATH_NOTIFY_*``); the shared ones stay in
``shared.settings``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notify.domain.webhook_url import AllowedHost, parse_allow_hosts


class NotifySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEPATH_NOTIFY_", extra="ignore")

    # Delay before retry n (n = 1, 2, ...); its length + 1 is the number of attempts.
    backoff_seconds: Annotated[list[float], Field(min_length=1)] = [5.0, 30.0, 120.0, 600.0]
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    nats_timeout_seconds: float = Field(default=5.0, gt=0)
    # How long a rotated-out webhook secret keeps signing next to the new one.
    secret_overlap_hours: float = Field(default=24.0, ge=0)
    # No directory file: notify learns providers and coordinators from the referral
    # service's directory events (a directory-file setting of earlier versions is ignored).
    # Language for recipients the directory has no language for (coordinators, caseworkers).
    default_language: str = "en"
    # Notifications handled at once by the delivery consumer.
    delivery_workers: int = Field(default=8, ge=1, le=256)
    # Webhook hosts exempt from the public-address rule, comma-separated ``host[:port]``
    # (``127.0.0.1``, ``127.0.0.1:9000``, ``[::1]:9000``, ``receiver.test``): development
    # receivers only. Empty by default. Plain http:// to them only in development/test.
    webhook_allow_hosts: str = ""

    @field_validator("webhook_allow_hosts")
    @classmethod
    def _allow_list(cls, value: str) -> str:
        parse_allow_hosts(value)  # refuse a malformed entry at start-up
        return value

    @property
    def allow_hosts(self) -> frozenset[AllowedHost]:
        return parse_allow_hosts(self.webhook_allow_hosts)

    @model_validator(mode="after")
    def _positive(self) -> NotifySettings:
        if any(b <= 0 for b in self.backoff_seconds):
            raise ValueError("backoff_seconds must all be positive")
        return self

    @property
    def max_attempts(self) -> int:
        return len(self.backoff_seconds) + 1

    def retry_delay(self, attempt: int) -> float:
        """The delay after the ``attempt``-th failed try (1-based)."""
        return self.backoff_seconds[min(attempt, len(self.backoff_seconds)) - 1]
