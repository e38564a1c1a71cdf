"""Bus identities: what each may do, the JWTs that carry it, and what stays secret.

What the permissions actually allow is proven against a real server in
tests/security/test_bus.py and tests/security/test_bus_providers.py.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import nkeys
import pytest

from services.notify.app.channels import provider_consumer_config
from services.notify.app.subjects import provider_subject, recipient_subject
from shared.jetstream import notifications_stream_config
from shared.natsauth import (
    CONSUMERS,
    SERVICES,
    Credentials,
    Trust,
    check_id,
    recipient_permissions,
    service_permissions,
)


def _claims(jwt: str) -> dict[str, object]:
    payload = jwt.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def test_a_service_publishes_only_under_its_own_name() -> None:
    for service in SERVICES:
        perms = service_permissions(service, "ns")
        for subject in perms.publish:
            if subject.startswith("$JS."):
                continue
            assert subject.startswith(
                (f"ns.{service}.", f"ns.audit.{service}.", "ns.deadletter.")
            ) or (service == "notify" and subject.endswith(".notifications")), subject
        dead_letters = {s for s in perms.publish if s.startswith("ns.deadletter.")}
        assert dead_letters == {f"ns.deadletter.{d}" for _, d in CONSUMERS[service]}
        assert perms.subscribe == [f"_INBOX.{service}.>"]


def test_no_service_may_manage_streams() -> None:
    for service in SERVICES:
        for subject in service_permissions(service, "ns").publish:
            for verb in ("CREATE", "UPDATE", "DELETE", "PURGE"):
                assert not subject.startswith(f"$JS.API.STREAM.{verb}"), subject
            assert subject not in (">", "$JS.>", "$JS.API.>")


def test_a_provider_may_only_pull_its_own_notifications() -> None:
    perms = recipient_permissions("provider", "femida-shelter-dushanbe", "safepath")
    assert perms.subscribe == [
        "safepath.provider.femida-shelter-dushanbe.notifications",
        "_INBOX.provider.femida-shelter-dushanbe.>",
    ]
    for subject in perms.publish:
        assert "SAFEPATH_NOTIFICATIONS.provider-femida-shelter-dushanbe" in subject
        assert subject.startswith(
            ("$JS.API.CONSUMER.INFO.", "$JS.API.CONSUMER.MSG.NEXT.", "$JS.ACK.")
        )


@pytest.mark.parametrize("bad", ["*", ">", "a.b", "femida dushanbe", "-x", "", "x" * 65])
def test_ids_that_would_widen_a_subject_or_permission_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_id(bad)
    with pytest.raises(ValueError):
        provider_subject(bad)


def test_the_stream_captures_every_recipients_subject_and_the_consumer_filters_one() -> None:
    stream = notifications_stream_config("safepath")
    assert stream.name == "SAFEPATH_NOTIFICATIONS"
    for kind, rid in [("provider", "umed"), ("coordinator", "nmac"), ("caseworker", "c-1")]:
        subject = recipient_subject(kind, rid)
        assert any(_matches(pattern, subject) for pattern in stream.subjects or [])
    consumer = provider_consumer_config("umed")
    assert consumer.durable_name == "provider-umed"
    assert consumer.filter_subject == "safepath.provider.umed.notifications"


def test_user_jwts_are_signed_by_the_account_and_carry_the_permissions(tmp_path: Path) -> None:
    creds = Credentials(tmp_path)
    text = creds.issue("provider:umed", "safepath").read_text()
    jwt = text.split("-----BEGIN NATS USER JWT-----\n")[1].split("\n")[0]
    claims = _claims(jwt)
    trust = creds.trust
    assert claims["iss"] == trust.account_public_key
    nats = claims["nats"]
    assert isinstance(nats, dict) and nats["type"] == "user"
    assert nats["sub"]["allow"] == recipient_permissions("provider", "umed", "safepath").subscribe
    head, body, sig = jwt.split(".")
    account = nkeys.from_seed(bytearray(trust.account_seed))
    assert account.verify(
        f"{head}.{body}".encode(), base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    )


def test_the_server_configuration_holds_no_secret(tmp_path: Path) -> None:
    creds = Credentials(tmp_path)
    conf = creds.server_config_path().read_text()
    trust = creds.trust
    for seed in trust.seeds():
        assert seed.decode() not in conf
    assert "no_auth_user" not in conf and "resolver: MEMORY" in conf


def test_trust_is_made_once_per_installation(tmp_path: Path) -> None:
    first = Trust.load_or_create(tmp_path / "a")
    assert Trust.load_or_create(tmp_path / "a") == first
    assert Trust.load_or_create(tmp_path / "b").account_seed != first.account_seed


def _matches(pattern: str, subject: str) -> bool:
    p, s = pattern.split("."), subject.split(".")
    return len(p) == len(s) and all(a in ("*", b) for a, b in zip(p, s, strict=True))


def test_production_refuses_a_service_without_bus_credentials_or_keys() -> None:
    from shared.settings import Settings
    from shared.signatures import format_verify_keys, new_signing_key

    seed = new_signing_key()
    keys = format_verify_keys({"case": seed})
    bare = Settings.model_construct(
        environment="production",
        nats_credentials=None,
        event_signing_key=seed,
        event_verify_keys=keys,
    )
    with pytest.raises(ValueError, match="SAFEPATH_NATS_CREDENTIALS"):
        bare.check_bus()
    unsigned = Settings.model_construct(
        environment="development",
        nats_credentials=None,
        event_signing_key=None,
        event_verify_keys=None,
    )
    with pytest.raises(ValueError, match="SAFEPATH_EVENT_SIGNING_KEY"):
        unsigned.check_bus()
