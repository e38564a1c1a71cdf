"""JetStream stream declarations: one stream per service, plus dead letters.

Streams use file storage and refuse message deletion and purging: JetStream is the
distribution log; Postgres remains the record (a replay re-publishes from there).
"""

from __future__ import annotations

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

DUPLICATE_WINDOW_SECONDS = 600.0


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
