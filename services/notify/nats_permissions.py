"""Provider notifications on NATS: subjects, the stream, and each recipient's consumer.

- Every recipient has a subject ``<ns>.<kind>.<id>.notifications`` (kind: provider,
  coordinator, caseworker), captured by one JetStream stream (``<NS>_NOTIFICATIONS``,
  declared by the setup identity with the others: ``shared.jetstream.all_streams``).
- Each provider reads through its own durable pull consumer ``provider-<id>``, which the
  notify service creates (filtered to that subject) before the first notification.
- Who may do what is decided by the credentials (``shared.natsauth``): a provider's may
  pull from its own consumer and acknowledge, nothing else; replies reach it under its
  own inbox prefix ``_INBOX.provider.<id>``, which its client must set.
"""

from __future__ import annotations

import re

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from shared.jetstream import (
    RECIPIENT_KINDS,
)
from shared.jetstream import notifications_stream_config as _notifications_stream_config
from shared.natsauth import inbox_prefix

NAMESPACE = "safepath"

# Same shape as the directory's ids; no dots or wildcards can reach a subject or a permission.
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_RECIPIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


# -- names ---------------------------------------------------------------------------------------


def check_provider_id(provider_id: str) -> str:
    if len(provider_id) > 64 or not _PROVIDER_ID.match(provider_id):
        raise ValueError("a provider id is a lowercase slug (a-z, 0-9, '-')")
    return provider_id


def recipient_subject(kind: str, recipient_id: str, namespace: str = NAMESPACE) -> str:
    """Where a recipient's notifications are published."""
    if kind not in RECIPIENT_KINDS:
        raise ValueError(f"unknown recipient kind {kind!r}")
    if not _RECIPIENT_ID.match(recipient_id):
        raise ValueError("a recipient id cannot be used as a subject token")
    return f"{namespace}.{kind}.{recipient_id}.notifications"


def provider_subject(provider_id: str, namespace: str = NAMESPACE) -> str:
    return recipient_subject("provider", check_provider_id(provider_id), namespace)


def notifications_stream_name(namespace: str = NAMESPACE) -> str:
    return f"{namespace}_notifications".upper()


def provider_durable(provider_id: str) -> str:
    return f"provider-{check_provider_id(provider_id)}"


def provider_inbox_prefix(provider_id: str) -> str:
    """The ``inbox_prefix`` a provider's client must connect with."""
    return inbox_prefix(f"provider:{check_provider_id(provider_id)}")


# -- JetStream objects ---------------------------------------------------------------------------


def notifications_stream_config(namespace: str = NAMESPACE, *, replicas: int = 1) -> StreamConfig:
    return _notifications_stream_config(namespace, replicas=replicas)


def provider_consumer_config(provider_id: str, namespace: str = NAMESPACE) -> ConsumerConfig:
    """The provider's durable pull consumer: only its subject, everything not yet acked."""
    durable = provider_durable(provider_id)
    return ConsumerConfig(
        name=durable,
        durable_name=durable,
        filter_subject=provider_subject(provider_id, namespace),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=60.0,
        max_ack_pending=1000,
    )


async def ensure_provider_consumer(
    js: JetStreamContext, provider_id: str, namespace: str = NAMESPACE
) -> None:
    """Create (or update) the provider's durable consumer; run as the service user."""
    await js.add_consumer(
        notifications_stream_name(namespace), provider_consumer_config(provider_id, namespace)
    )
