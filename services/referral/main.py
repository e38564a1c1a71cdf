"""The referral service process: ``create_app`` is what ``python -m services.referral``
serves and what the tests start; the wiring itself is ``services.referral.bootstrap``."""

from __future__ import annotations

from fastapi import FastAPI

from services.referral.bootstrap import bootstrap
from services.referral.config import ReferralSettings
from shared.settings import Settings


def create_app(
    settings: Settings | None = None, referral: ReferralSettings | None = None
) -> FastAPI:
    return bootstrap(settings or Settings(), referral or ReferralSettings())
