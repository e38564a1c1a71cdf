"""Names on the bus for provider notifications: subjects, the stream, consumers, inboxes.

- Every recipient has a subject ``<ns>.<kind>.<id>.notifications`` (kind: provider,
  coordinator, caseworker), captured by one JetStream stream (``<NS>_NOTIFICATIONS``,
  declared by the setup identity with the others: ``shared.jetstream.all_streams``).
- Each provider reads through its own durable pull consumer ``provider-<id>``, which the
  notify service creates (``channels.ensure_provider_consumer``) before the first
  notification.
- Who may do what is decided by the credentials (``shared.natsauth``): a provider's may
  pull from its own consumer and acknowledge, nothing else; replies reach it under its
  own inbox prefix ``_INBOX.provider.<id>``, which its client must set.

Names only: no connection, no I/O.
"""

from __future__ import annotations

import re

from shared.jetstream import RECIPIENT_KINDS
from shared.natsauth import inbox_prefix

NAMESPACE = "safepath"

# Same shape as the directory's ids; no dots or wildcards can reach a subject or a permission.
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_RECIPIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


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
