"""The generated NATS configuration: names, permissions and refusal of unsafe ids.

What the permissions actually allow is proven against a real server in
tests/integration/notify/test_nats_permissions.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from services.notify.nats_permissions import (
    notifications_stream_config,
    provider_consumer_config,
    provider_permissions,
    provider_subject,
    recipient_subject,
    server_config,
)

DEPLOYED = Path(__file__).parents[3] / "deploy" / "nats" / "safepath.conf"


def test_a_provider_may_subscribe_only_to_its_subject_and_its_own_inbox() -> None:
    perms = provider_permissions("femida-shelter-dushanbe")
    assert perms["subscribe"]["allow"] == [
        "safepath.provider.femida-shelter-dushanbe.notifications",
        "_INBOX.provider.femida-shelter-dushanbe.>",
    ]
    for subject in perms["publish"]["allow"]:
        assert "SAFEPATH_NOTIFICATIONS.provider-femida-shelter-dushanbe" in subject
        assert subject.startswith(
            ("$JS.API.CONSUMER.INFO.", "$JS.API.CONSUMER.MSG.NEXT.", "$JS.ACK.")
        )


def test_the_stream_captures_every_recipients_subject_and_the_consumer_filters_one() -> None:
    stream = notifications_stream_config()
    assert stream.name == "SAFEPATH_NOTIFICATIONS"
    for kind, rid in [("provider", "umed"), ("coordinator", "nmac"), ("caseworker", "c-1")]:
        subject = recipient_subject(kind, rid)
        assert any(_matches(pattern, subject) for pattern in stream.subjects or [])
    consumer = provider_consumer_config("umed")
    assert consumer.durable_name == "provider-umed"
    assert consumer.filter_subject == "safepath.provider.umed.notifications"


@pytest.mark.parametrize("bad", ["*", ">", "a.b", "Femida", "femida dushanbe", "-x", ""])
def test_ids_that_would_widen_a_subject_or_permission_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        provider_subject(bad)
    with pytest.raises(ValueError):
        server_config([bad])


def test_passwords_are_env_references_unless_given_literally() -> None:
    conf = server_config(["umed"], provider_passwords={"umed": "$2a$11$bcrypthash"})
    assert "password: $SAFEPATH_NATS_SERVICE_PASSWORD" in conf
    assert 'password: "$2a$11$bcrypthash"' in conf


def test_the_deployed_configuration_is_what_the_generator_writes() -> None:
    conf = server_config(["femida-shelter-dushanbe", "women-and-society-shelter-buston"])
    assert DEPLOYED.read_text() == conf


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    return len(p) == len(s) and all(a in ("*", b) for a, b in zip(p, s, strict=True))
