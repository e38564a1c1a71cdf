"""The referral service's own settings (``SAFEPATH_REFERRAL_*``); shared ones stay in
``shared.settings``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.referral.data import DEFAULT_DIRECTORY
from services.referral.domain.sla import Slas


class ReferralSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEPATH_REFERRAL_", extra="ignore")

    # How long the chosen provider has to answer, per urgency (seconds).
    sla_emergency_seconds: float = Field(default=3600.0, gt=0)
    sla_urgent_seconds: float = Field(default=24 * 3600.0, gt=0)
    sla_routine_seconds: float = Field(default=72 * 3600.0, gt=0)
    # How often the escalation scanner looks for passed deadlines, and how many per pass.
    escalation_interval_seconds: float = Field(default=30.0, gt=0)
    escalation_batch: int = Field(default=100, ge=1, le=10_000)
    # After a withdrawal: how long each provider has to confirm it deleted the referral's
    # data before it is reminded, then before the coordinator is alerted (hours); how often
    # the deletion timer looks (docs/routing.md, "Withdrawal reaches every provider").
    deletion_confirm_hours: float = Field(default=72.0, gt=0)
    deletion_escalate_hours: float = Field(default=48.0, gt=0)
    deletion_interval_seconds: float = Field(default=60.0, gt=0)
    # Imported at start-up when its version is newer than the last import (None: skip).
    directory_file: Path | None = DEFAULT_DIRECTORY

    @property
    def deletion_confirm_within(self) -> timedelta:
        return timedelta(hours=self.deletion_confirm_hours)

    @property
    def deletion_escalate_within(self) -> timedelta:
        return timedelta(hours=self.deletion_escalate_hours)

    @property
    def slas(self) -> Slas:
        return {
            "emergency": timedelta(seconds=self.sla_emergency_seconds),
            "urgent": timedelta(seconds=self.sla_urgent_seconds),
            "routine": timedelta(seconds=self.sla_routine_seconds),
        }
