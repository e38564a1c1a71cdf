"""Connecting to NATS as one identity: credentials, inbox prefix and TLS in one place.

Every process that talks to the bus (services, operator commands, the demo) connects
through ``connect_options``, so none can forget its credentials or share an inbox.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import nats
from faststream.nats import JStream, NatsBroker
from nats.aio.client import Client as NATS

from shared.natsauth import inbox_prefix
from shared.settings import Settings


def tls_context(settings: Settings) -> ssl.SSLContext | None:
    """A verifying TLS context when a CA or client certificate is configured."""
    if settings.nats_tls_ca_file is None and settings.nats_tls_cert_file is None:
        return None
    ctx = ssl.create_default_context(
        cafile=str(settings.nats_tls_ca_file) if settings.nats_tls_ca_file else None
    )
    if settings.nats_tls_cert_file is not None:
        key = settings.nats_tls_key_file
        ctx.load_cert_chain(str(settings.nats_tls_cert_file), str(key) if key else None)
    return ctx


def connect_options(settings: Settings, identity: str) -> dict[str, Any]:
    """Keyword arguments for ``nats.connect`` and FastStream's ``NatsBroker``."""
    options: dict[str, Any] = {"inbox_prefix": inbox_prefix(identity)}
    if settings.nats_credentials is not None:
        options["user_credentials"] = str(settings.nats_credentials)
    tls = tls_context(settings)
    if tls is not None:
        options["tls"] = tls
    return options


async def connect(settings: Settings, identity: str, **extra: Any) -> NATS:
    """A connection as ``identity``; reconnects for ever unless ``extra`` says otherwise."""
    options: dict[str, Any] = {
        "name": f"safepath-{identity}",
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        **connect_options(settings, identity),
        **extra,
    }
    return await nats.connect(settings.nats_servers(), **options)


def broker_options(settings: Settings, identity: str) -> dict[str, Any]:
    """``connect_options`` in the shape FastStream's ``NatsBroker`` takes (TLS as security)."""
    options = connect_options(settings, identity)
    tls = options.pop("tls", None)
    creds = options.pop("user_credentials", None)
    if creds is not None:
        from faststream.nats.security import NatsCredentials

        options["security"] = NatsCredentials(creds, ssl_context=tls)
    elif tls is not None:
        from faststream.security import BaseSecurity

        options["security"] = BaseSecurity(ssl_context=tls)
    return options


def service_broker(settings: Settings, identity: str) -> NatsBroker:
    """The process's one NATS connection, as ``identity``: FastStream's broker, whose
    nats-py client (``await broker.connect()``) the relay, sealer and dead letters share."""
    return NatsBroker(
        settings.nats_servers(),
        name=f"safepath-{identity}",
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        # A publish that must flush a full buffer waits at most this long (the default
        # waits for ever, and would hang the relay with it).
        flush_timeout=10.0,
        description=f"NATS JetStream, as the {identity} identity (JWT credentials, TLS)",
        # FastStream's two access lines per message (Received, Processed) at DEBUG: at
        # INFO they were most of the log volume and a measurable share of consumer CPU.
        log_level=logging.DEBUG,
        **broker_options(settings, identity),
    )


def declare_publications(broker: NatsBroker, settings: Settings, service: str) -> None:
    """Declare on ``broker`` what the relay publishes: the service's events, each on
    ``<namespace>.<service>.<stream id>.<EventName>``. The relay publishes them through
    the broker's JetStream context (signed, ``Nats-Msg-Id`` = event id); the declaration
    puts them, with their payload schema, in the service's AsyncAPI document."""
    from shared.events import registry
    from shared.messages import message_model

    events = registry.models(service)
    if not events:
        return
    broker.publisher(
        f"{settings.subject_root(service)}.*.*",
        stream=JStream(settings.stream_name(service), declare=False),
        schema=message_model(f"{service.capitalize()}Event", events),
        title=f"{service}-events",
        description=(
            f"Every event of the {service} service, after it commits, in stream order per"
            " stream id; signed by the service (Ed25519, the `signature` extension);"
            " JetStream message id = event id."
        ),
    )
