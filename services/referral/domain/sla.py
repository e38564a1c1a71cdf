"""How long a provider has to answer a referral, by urgency (configurable)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from shared.events.vocabulary import Urgency

Slas = Mapping[Urgency, timedelta]

DEFAULT_SLAS: Slas = {
    "emergency": timedelta(hours=1),
    "urgent": timedelta(hours=24),
    "routine": timedelta(hours=72),
}
