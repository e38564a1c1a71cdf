"""Referral and case events as their services publish them, and ways to wait for effects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from nats.js import JetStreamContext

from services.referral.data import DEFAULT_DIRECTORY
from services.referral.domain.directory import parse_directory
from services.referral.domain.directory_view import DirectoryView, import_directory
from shared.envelope import Envelope, dataschema_for
from shared.events.base import Event
from shared.events.case import NO_CONSENT
from shared.events.referral import ReferralRouted, RoutingReasons
from shared.ids import uuid7
from tests.keys import signed

PROVIDER = "femida-shelter-dushanbe"  # speaks tg, ru in the default directory
OTHER_PROVIDER = "women-and-society-shelter-buston"

SURVIVOR_NAME = "Gulnora Rahimova"
SURVIVOR_PHONE = "+992 93 555 12 34"
SURVIVOR_BIRTH_DATE = "2001-03-14"
PLANTED = (SURVIVOR_NAME, SURVIVOR_PHONE, SURVIVOR_BIRTH_DATE, "Rahimova", "555 12 34")

T = TypeVar("T")


def envelope(event: Event, stream_id: str, *, version: int = 1) -> Envelope:
    """The CloudEvent the owning service's relay would publish (as ``StoredEvent.to_envelope``)."""
    return Envelope(
        id=str(uuid7()),
        source=f"safepath/{event.service}",
        type=event.type_name(),
        subject=stream_id,
        time=datetime.now(UTC),
        dataschema=dataschema_for(event.type_name()),
        streamversion=version,
        correlationid=str(uuid7()),
        actor=f"service:{event.service}",
        data=event.model_dump(mode="json"),
    )


async def publish(
    js: JetStreamContext,
    namespace: str,
    env: Envelope,
    *,
    msg_id: str | None = None,
    raw: bytes | None = None,
) -> None:
    service = env.service
    await js.publish(
        f"{namespace}.{service}.{env.subject}.{env.event_name}",
        raw if raw is not None else signed(env),
        headers={"Nats-Msg-Id": msg_id or env.id},
    )


async def publish_directory(js: JetStreamContext, namespace: str) -> int:
    """The default directory as the referral service publishes it when it starts (its
    ``directory`` stream): notify's only source of providers and coordinators."""
    directory = parse_directory(DEFAULT_DIRECTORY.read_text(encoding="utf-8"))
    events = import_directory(DirectoryView(), directory)
    for version, event in enumerate(events, start=1):
        await publish(js, namespace, envelope(event, "directory", version=version))
    # Until notify-referrals has applied them (a webhook registration needs the provider).
    stream = f"{namespace}_referral".upper()

    async def pending() -> int:
        info = await js.consumer_info(stream, "notify-referrals")
        return int(info.num_pending or 0) + int(info.num_ack_pending or 0)

    await eventually(pending, lambda n: n == 0)
    return len(events)


def routed(
    referral_id: str | None = None,
    *,
    provider_id: str = PROVIDER,
    summary: str = "nearest",
    **overrides: Any,
) -> ReferralRouted:
    fields: dict[str, Any] = {
        "referral_id": referral_id or str(uuid.uuid4()),
        "case_id": str(uuid.uuid4()),
        "request_id": str(uuid.uuid4()),
        "need": "shelter",
        "urgency": "urgent",
        "attempt": 1,
        "reasons": RoutingReasons(
            matched=["category", "service", "area"],
            proximity="district",
            language_match=True,
            consent_basis="service_type",
            passed_over=[],
            excluded=[],
            not_offering=0,
            summary=summary,
        ),
        "categories": ["trafficking"],
        "region": "dushanbe",
        "district": "dushanbe",
        "sex": "female",
        "age_band": "18-24",
        "language": "tg",
        "disability": False,
        "consent": NO_CONSENT,
        "emergency_without_consent": False,
        "provider_id": provider_id,
        "respond_by": datetime.now(UTC) + timedelta(hours=4),
    }
    fields.update(overrides)
    return ReferralRouted(**fields)


async def eventually(
    probe: Callable[[], Awaitable[T]], until: Callable[[T], bool], within: float = 15.0
) -> T:
    """Poll ``probe`` until ``until`` holds; fail with the last value otherwise."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        value = await probe()
        if until(value):
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met in {within}s; last value: {value!r}")
        await asyncio.sleep(0.05)


async def notify_events(pool: Any, name: str) -> list[dict[str, Any]]:
    """The notify service's stored events of type ``name``, oldest first."""
    import json

    rows = await pool.fetch(
        "SELECT data::text AS data FROM notify.event WHERE event_type LIKE $1"
        " ORDER BY global_position",
        f"org.safepath.notify.{name}.v%",
    )
    return [json.loads(r["data"]) for r in rows]
