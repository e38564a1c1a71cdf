"""NATS subjects, stream, consumers and server permissions for provider notifications.

One generator for the deployed configuration (``deploy/nats/safepath.conf``) and for the
test that proves it, so what is tested is what runs.

- Every recipient has a subject ``<ns>.<kind>.<id>.notifications`` (kind: provider,
  coordinator, caseworker), captured by one JetStream stream (``<NS>_NOTIFICATIONS``).
- The services share one user with full access to ``<ns>.>``, the JetStream API and
  their inboxes.
- Each provider has a user that can read only its own notifications: core-subscribe to
  its subject, or pull from its durable consumer ``provider-<id>`` (which the notify
  service creates, filtered to that subject). It may publish only the JetStream API
  requests for that one consumer (info, next message) and acknowledgements of its
  messages. Replies come to a per-provider inbox prefix, ``_INBOX.provider.<id>``; a
  shared ``_INBOX.>`` would let one provider read replies meant for others (including
  other providers' pulled messages), so provider clients must set that prefix.

Usage: ``python -m services.notify.nats_permissions femida-dushanbe umed > safepath.conf``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

from shared.jetstream import (
    NOTIFICATION_RETENTION_DAYS,
    RECIPIENT_KINDS,
    ensure_stream,
)
from shared.jetstream import notifications_stream_config as _notifications_stream_config

NAMESPACE = "safepath"
ACCOUNT = "SAFEPATH"
SERVICE_USER = "safepath-service"
SERVICE_PASSWORD_ENV = "SAFEPATH_NATS_SERVICE_PASSWORD"

# Same shape as the directory's ids; no dots or wildcards can reach a subject or a permission.
_PROVIDER_ID = re.compile(r"^[a-z0-9][a-z0-9-]*[a-z0-9]$")
_RECIPIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_ENV_REF = re.compile(r"^\$[A-Z_][A-Z0-9_]*$")


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


def provider_user(provider_id: str) -> str:
    return f"provider-{check_provider_id(provider_id)}"


def provider_inbox_prefix(provider_id: str) -> str:
    """The ``inbox_prefix`` a provider's client must connect with."""
    return f"_INBOX.provider.{check_provider_id(provider_id)}"


def provider_password_env(provider_id: str) -> str:
    return "SAFEPATH_NATS_PROVIDER_" + check_provider_id(provider_id).upper().replace("-", "_")


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


async def ensure_notifications_stream(
    js: JetStreamContext, namespace: str = NAMESPACE, *, replicas: int = 1
) -> None:
    await ensure_stream(js, notifications_stream_config(namespace, replicas=replicas))


async def ensure_provider_consumer(
    js: JetStreamContext, provider_id: str, namespace: str = NAMESPACE
) -> None:
    """Create (or update) the provider's durable consumer; run as the service user."""
    await js.add_consumer(
        notifications_stream_name(namespace), provider_consumer_config(provider_id, namespace)
    )


# -- permissions ---------------------------------------------------------------------------------


def service_permissions(namespace: str = NAMESPACE) -> dict[str, dict[str, list[str]]]:
    allowed = [f"{namespace}.>", "$JS.>", "_INBOX.>"]
    return {"publish": {"allow": allowed}, "subscribe": {"allow": allowed}}


def provider_permissions(
    provider_id: str, namespace: str = NAMESPACE
) -> dict[str, dict[str, list[str]]]:
    stream = notifications_stream_name(namespace)
    durable = provider_durable(provider_id)
    return {
        "publish": {
            "allow": [
                f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
                f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
                f"$JS.ACK.{stream}.{durable}.>",
                # the newer acknowledgement subject form (domain and account hash tokens)
                f"$JS.ACK.*.*.{stream}.{durable}.>",
            ]
        },
        "subscribe": {
            "allow": [
                provider_subject(provider_id, namespace),
                f"{provider_inbox_prefix(provider_id)}.>",
            ]
        },
    }


# -- server configuration ------------------------------------------------------------------------


def server_config(
    provider_ids: Sequence[str],
    *,
    namespace: str = NAMESPACE,
    service_password: str = f"${SERVICE_PASSWORD_ENV}",
    provider_passwords: Mapping[str, str] | None = None,
    store_dir: str | None = None,
    port: int | None = None,
) -> str:
    """A nats-server configuration with JetStream and the users above.

    A password of the form ``$NAME`` is written as a reference to environment variable
    NAME (resolved by nats-server at start-up); anything else, including a bcrypt hash
    from ``nats server passwd``, is written as a literal. Providers without an entry in
    ``provider_passwords`` read ``$SAFEPATH_NATS_PROVIDER_<ID>``.
    """
    passwords = dict(provider_passwords or {})
    users = [_user(SERVICE_USER, service_password, service_permissions(namespace))]
    for pid in provider_ids:
        password = passwords.get(pid, f"${provider_password_env(pid)}")
        users.append(_user(provider_user(pid), password, provider_permissions(pid, namespace)))
    lines = [
        "# Safepath NATS server: JetStream, and one account for the services and providers.",
        "# Generated by services/notify/nats_permissions.py; edit the generator, not this file.",
        "# Passwords are read from environment variables ($NAME) when the server starts.",
    ]
    if port is not None:
        lines.append(f"port: {int(port)}")
    lines.append("jetstream {")
    if store_dir is not None:
        lines.append(f"  store_dir: {json.dumps(store_dir)}")
    lines += ["}", "accounts {", f"  {ACCOUNT} {{", "    jetstream: enabled", "    users: ["]
    lines += [_indent(u, 6) for u in users]
    lines += ["    ]", "  }", "}", ""]
    return "\n".join(lines)


def _user(name: str, password: str, permissions: Mapping[str, Mapping[str, list[str]]]) -> str:
    pw = password if _ENV_REF.match(password) else json.dumps(password)
    perm_lines = []
    for direction, rules in permissions.items():
        perm_lines.append(f"    {direction}: {{")
        for rule, subjects in rules.items():
            perm_lines.append(f"      {rule}: [")
            perm_lines += [f"        {json.dumps(s)}" for s in subjects]
            perm_lines.append("      ]")
        perm_lines.append("    }")
    return "\n".join(
        [
            "{",
            f"  user: {json.dumps(name)}",
            f"  password: {pw}",
            "  permissions: {",
            *perm_lines,
            "  }",
            "}",
        ]
    )


def _indent(text: str, spaces: int) -> str:
    return "\n".join(" " * spaces + line for line in text.splitlines())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("provider_ids", nargs="*", help="provider ids from the directory")
    parser.add_argument("--namespace", default=NAMESPACE)
    parser.add_argument("--store-dir", default=None)
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args(argv)
    sys.stdout.write(
        server_config(
            args.provider_ids, namespace=args.namespace, store_dir=args.store_dir, port=args.port
        )
    )


if __name__ == "__main__":
    main()
