"""JetStream stream declarations: one stream per service, plus dead letters.

Streams use file storage and refuse message deletion and purging: JetStream is the
distribution log; Postgres remains the record (a replay re-publishes from there).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

if TYPE_CHECKING:
    from shared.settings import Settings

DUPLICATE_WINDOW_SECONDS = 600.0
SERVICE_STREAMS = ("case", "referral", "notify")
RECIPIENT_KINDS = ("provider", "coordinator", "caseworker", "supervisor")
NOTIFICATION_RETENTION_DAYS = 90


def stream_config(
    name: str, subjects: list[str], *, replicas: int = 1, max_age_days: int = 0
) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=subjects,
        storage=StorageType.FILE,
        retention=RetentionPolicy.LIMITS,
        discard=DiscardPolicy.OLD,
        num_replicas=replicas,
        max_age=float(max_age_days * 86400) if max_age_days else None,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        deny_delete=True,
        deny_purge=True,
        allow_direct=True,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one's settings up to ``config``."""
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            return
        except BadRequestError:
            # Created concurrently by another process: fall through to update.
            pass
    await js.update_stream(config)


def dead_letter_subject(namespace: str, consumer: str) -> str:
    return f"{namespace}.deadletter.{consumer}"


def dead_letter_stream(namespace: str, *, replicas: int = 1) -> StreamConfig:
    cfg = stream_config(
        f"{namespace}_deadletter".upper(), [f"{namespace}.deadletter.>"], replicas=replicas
    )
    return cfg


def notifications_stream_config(namespace: str, *, replicas: int = 1) -> StreamConfig:
    """Every recipient's ``<ns>.<kind>.<id>.notifications`` subject, kept 90 days."""
    subjects = [f"{namespace}.{kind}.*.notifications" for kind in RECIPIENT_KINDS]
    return stream_config(
        f"{namespace}_notifications".upper(),
        subjects,
        replicas=replicas,
        max_age_days=NOTIFICATION_RETENTION_DAYS,
    )


def all_streams(settings: Settings) -> list[StreamConfig]:
    """Every stream of a namespace: the services', dead letters, audit, notifications."""
    ns, replicas = settings.namespace, settings.stream_replicas
    configs = [
        stream_config(
            settings.stream_name(name),
            [f"{settings.subject_root(name)}.>"],
            replicas=replicas,
            max_age_days=settings.stream_max_age_days,
        )
        for name in SERVICE_STREAMS
    ]
    configs.append(dead_letter_stream(ns, replicas=replicas))
    configs.append(stream_config(settings.audit_stream, [f"{ns}.audit.>"], replicas=replicas))
    configs.append(notifications_stream_config(ns, replicas=replicas))
    return configs


async def declare_streams(js: JetStreamContext, settings: Settings) -> None:
    """Create or update every stream: run by the setup identity, never by a service."""
    for config in all_streams(settings):
        await ensure_stream(js, config)


async def require_streams(
    js: JetStreamContext, settings: Settings, service: str, within: float = 60
) -> None:
    """Wait until setup has declared the streams a service writes to (it may not create them)."""
    deadline = time.monotonic() + within
    names = [settings.stream_name(service), settings.stream_name("deadletter")]
    names.append(settings.audit_stream)
    for name in names:
        while True:
            try:
                await js.stream_info(name)
                break
            except NotFoundError:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"stream {name} does not exist: run `safepath migrate` "
                        "(the setup identity declares the streams)"
                    ) from None
                await asyncio.sleep(0.5)
