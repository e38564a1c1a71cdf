"""JetStream retention follows SAFEPATH_STREAM_MAX_AGE_DAYS, and can be lifted again."""

from __future__ import annotations

from nats.js import JetStreamContext

from shared.jetstream import ensure_stream, stream_config


async def test_stream_max_age_follows_the_setting(js: JetStreamContext, namespace: str) -> None:
    name = f"{namespace}_CASE".upper()
    await ensure_stream(js, stream_config(name, [f"{namespace}.case.>"], max_age_days=3))
    assert (await js.stream_info(name)).config.max_age == 3 * 86400
    await ensure_stream(js, stream_config(name, [f"{namespace}.case.>"], max_age_days=0))
    assert not (await js.stream_info(name)).config.max_age  # 0: kept for ever
    cfg = (await js.stream_info(name)).config
    assert cfg.deny_delete and cfg.deny_purge
