"""The case service's own settings (``SAFEPATH_CASE_*``); shared ones stay in
``shared.settings``."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEPATH_CASE_", extra="ignore")

    # The recovery and reflection period of a presumed victim of trafficking: at least 30
    # days (Council of Europe Convention, Art. 13); 45 in UK practice.
    reflection_days: int = Field(default=30, ge=30, le=365)
    # Remind the caseworker this many days before it ends (each once per end date).
    reflection_reminder_days: list[int] = Field(default=[7, 1], max_length=10)
    # How often the reflection timer looks, and how many cases per pass.
    reflection_interval_seconds: float = Field(default=300.0, gt=0)
    reflection_batch: int = Field(default=200, ge=1, le=10_000)
    # A transfer request nobody answers expires after this many days (the sending side
    # keeps the case); the transfer timer looks this often, this many cases per pass.
    transfer_expiry_days: int = Field(default=7, ge=1, le=90)
    transfer_interval_seconds: float = Field(default=300.0, gt=0)
    transfer_batch: int = Field(default=200, ge=1, le=10_000)
    # The plan's dates (goals' due dates, follow-ups): remind the caseworker this many days
    # before (0: on the day), each once per date; how often the timer looks, how many
    # cases per pass.
    due_reminder_days: list[Annotated[int, Field(ge=0, le=365)]] = Field(
        default=[3, 0], min_length=1, max_length=10
    )
    due_interval_seconds: float = Field(default=300.0, gt=0)
    due_batch: int = Field(default=200, ge=1, le=10_000)
    # Break the glass: how long an emergency grant lasts (no renewal while it runs).
    break_glass_minutes: int = Field(default=60, ge=5, le=24 * 60)
