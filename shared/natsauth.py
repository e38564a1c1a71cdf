"""Who may do what on the bus: NATS decentralised (JWT) authentication.

The trust chain is the one a NATS operator knows from ``nsc``: an operator key signs
two account JWTs (``SYS`` for the server's own traffic, ``SAFEPATH`` for everything
else), and the Safepath account key signs one user JWT per identity. The server is given
only public material (operator JWT, account JWTs); a user proves itself by signing the
server's nonce with its nkey seed, which never leaves its ``.creds`` file. New providers
get credentials without touching the server: the account key signs them.

Identities and their permissions (``<ns>`` is the namespace, ``<NS>`` upper-cased):

- ``setup``: the one identity that creates, updates and deletes streams (``safepath up``,
  ``safepath migrate``, operator commands). Everything in the account.
- ``<service>`` (case, referral, notify): publish its own events ``<ns>.<service>.>``,
  its audit checkpoints, its consumers' dead letters; the JetStream API only for stream
  info, reading its own stream's last message (the relay), and its own durable consumers
  (create, info, next, ack). Replies arrive on ``_INBOX.<service>.>`` only.
- ``provider:<id>`` (and coordinator/caseworker recipients): pull its own notifications
  through its own durable consumer; nothing else.

Nothing here touches the network; files are written by ``write_private``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nkeys

SERVICES = ("case", "referral", "notify")
RECIPIENT_KINDS = ("provider", "coordinator", "caseworker", "supervisor")
ACCOUNT_NAME = "SAFEPATH"

# The durable consumers each service runs: (stream of which service, durable name). The
# services' wiring uses these names; a consumer missing here is refused by the server.
CONSUMERS: Mapping[str, Sequence[tuple[str, str]]] = {
    "case": (("referral", "case-referral-events"), ("notify", "case-notify-events")),
    "referral": (("case", "referral-case-events"),),
    "notify": (
        ("referral", "notify-referrals"),
        ("case", "notify-cases"),
        ("notify", "notify-deliver-NotificationQueued"),
        ("notify", "notify-deliver-NotificationRedeliveryRequested"),
    ),
}

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Permissions:
    publish: list[str] = field(default_factory=list)
    subscribe: list[str] = field(default_factory=list)

    def claims(self) -> dict[str, Any]:
        return {"pub": {"allow": self.publish}, "sub": {"allow": self.subscribe}}


# -- names ---------------------------------------------------------------------------------------


def stream_name(namespace: str, service: str) -> str:
    return f"{namespace}_{service}".upper()


def inbox_prefix(identity: str) -> str:
    """The ``inbox_prefix`` an identity connects with; it may read replies there only."""
    return "_INBOX." + identity.replace(":", ".")


def recipient_durable(kind: str, recipient_id: str) -> str:
    return f"{kind}-{check_id(recipient_id)}"


def check_id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError("an id on the bus is 1-64 of A-Z a-z 0-9 _ - (no dots or wildcards)")
    return value


# -- permissions ---------------------------------------------------------------------------------


def setup_permissions() -> Permissions:
    return Permissions(publish=[">"], subscribe=[">"])


def _consumer_api(stream: str, durable: str) -> list[str]:
    return [
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.CREATE.{stream}.{durable}.>",
        f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
        f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
        f"$JS.ACK.*.*.{stream}.{durable}.>",
    ]


def service_permissions(service: str, namespace: str) -> Permissions:
    if service not in SERVICES:
        raise ValueError(f"unknown service {service!r}")
    own = stream_name(namespace, service)
    pub = [
        f"{namespace}.{service}.>",
        f"{namespace}.audit.{service}.checkpoint",
        "$JS.API.INFO",
        f"$JS.API.STREAM.INFO.{own}",
        f"$JS.API.STREAM.MSG.GET.{own}",
        f"$JS.API.DIRECT.GET.{own}",
        f"$JS.API.DIRECT.GET.{own}.>",
    ]
    for other in SERVICES:
        if other != service:
            pub.append(f"$JS.API.STREAM.INFO.{stream_name(namespace, other)}")
    pub += [f"$JS.API.STREAM.INFO.{stream_name(namespace, s)}" for s in ("deadletter", "audit")]
    # GET /audit/verify reads the published checkpoints (read-only).
    audit = stream_name(namespace, "audit")
    pub += [
        f"$JS.API.STREAM.MSG.GET.{audit}",
        f"$JS.API.DIRECT.GET.{audit}",
        f"$JS.API.DIRECT.GET.{audit}.>",
    ]
    if service == "notify":
        pub.append(f"$JS.API.STREAM.INFO.{stream_name(namespace, 'notifications')}")
    for source, durable in CONSUMERS[service]:
        pub.append(f"{namespace}.deadletter.{durable}")
        pub += _consumer_api(stream_name(namespace, source), durable)
    if service == "notify":
        # Notify delivers to every recipient's subject and keeps each recipient's consumer.
        notifications = stream_name(namespace, "notifications")
        pub += [f"{namespace}.{kind}.*.notifications" for kind in RECIPIENT_KINDS]
        pub += _consumer_api(notifications, "*")
    return Permissions(publish=pub, subscribe=[f"{inbox_prefix(service)}.>"])


def recipient_permissions(kind: str, recipient_id: str, namespace: str) -> Permissions:
    """A provider (or coordinator, caseworker) reads its own notifications, nothing else."""
    if kind not in RECIPIENT_KINDS:
        raise ValueError(f"unknown recipient kind {kind!r}")
    stream = stream_name(namespace, "notifications")
    durable = recipient_durable(kind, recipient_id)
    return Permissions(
        publish=[
            f"$JS.API.CONSUMER.INFO.{stream}.{durable}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{durable}",
            f"$JS.ACK.{stream}.{durable}.>",
            f"$JS.ACK.*.*.{stream}.{durable}.>",
        ],
        subscribe=[
            f"{namespace}.{kind}.{recipient_id}.notifications",
            f"{inbox_prefix(f'{kind}:{recipient_id}')}.>",
        ],
    )


# -- JWTs ----------------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _new_seed(prefix: int) -> bytes:
    return bytes(nkeys.encode_seed(os.urandom(32), prefix))


def _public(seed: bytes) -> str:
    return str(nkeys.from_seed(bytearray(seed)).public_key.decode())


def encode_jwt(claims: Mapping[str, Any], signer_seed: bytes, *, issued_at: int) -> str:
    """A NATS JWT (``ed25519-nkey``), ``jti`` the claims' SHA-512/256 as ``nsc`` makes it."""
    signer = nkeys.from_seed(bytearray(signer_seed))
    body: dict[str, Any] = {
        **claims,
        "iat": issued_at,
        "iss": signer.public_key.decode(),
        "jti": "",
    }
    digest = hashlib.new("sha512_256", json.dumps(body).encode()).digest()
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    header = _b64url(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    payload = _b64url(json.dumps(body, separators=(",", ":")).encode())
    signature = signer.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{_b64url(bytes(signature))}"


_UNLIMITED = {
    "subs": -1,
    "data": -1,
    "payload": -1,
    "imports": -1,
    "exports": -1,
    "wildcards": True,
    "conn": -1,
    "leaf": -1,
}
_JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}

CREDS_TEMPLATE = """-----BEGIN NATS USER JWT-----
{jwt}
------END NATS USER JWT------

************************* IMPORTANT *************************
NKEY Seed printed below can be used to sign and prove identity.
NKEYs are sensitive and should be treated as secrets.

-----BEGIN USER NKEY SEED-----
{seed}
------END USER NKEY SEED------

*************************************************************
"""


@dataclass(frozen=True)
class Trust:
    """The operator, system-account and Safepath-account seeds of one installation."""

    operator_seed: bytes
    system_seed: bytes
    account_seed: bytes

    FILES = ("operator.nk", "system.nk", "account.nk")

    @classmethod
    def generate(cls) -> Trust:
        return cls(
            _new_seed(nkeys.PREFIX_BYTE_OPERATOR),
            _new_seed(nkeys.PREFIX_BYTE_ACCOUNT),
            _new_seed(nkeys.PREFIX_BYTE_ACCOUNT),
        )

    @classmethod
    def load_or_create(cls, directory: Path) -> Trust:
        """Read the seeds from ``directory``; generate them (owner-only files) the first time."""
        paths = [directory / name for name in cls.FILES]
        if all(p.exists() for p in paths):
            return cls(*(p.read_bytes().strip() for p in paths))
        trust = cls.generate()
        for path, seed in zip(paths, trust.seeds(), strict=True):
            write_private(path, seed.decode() + "\n")
        return trust

    def seeds(self) -> tuple[bytes, bytes, bytes]:
        return (self.operator_seed, self.system_seed, self.account_seed)

    @property
    def account_public_key(self) -> str:
        return _public(self.account_seed)

    def _jwts(self, now: int) -> tuple[str, str, str]:
        operator = encode_jwt(
            {
                "name": "safepath",
                "sub": _public(self.operator_seed),
                "nats": {
                    "type": "operator",
                    "version": 2,
                    "system_account": _public(self.system_seed),
                },
            },
            self.operator_seed,
            issued_at=now,
        )
        system = encode_jwt(
            {
                "name": "SYS",
                "sub": _public(self.system_seed),
                "nats": {"type": "account", "version": 2, "limits": _UNLIMITED},
            },
            self.operator_seed,
            issued_at=now,
        )
        account = encode_jwt(
            {
                "name": ACCOUNT_NAME,
                "sub": self.account_public_key,
                "nats": {
                    "type": "account",
                    "version": 2,
                    "limits": {**_UNLIMITED, **_JETSTREAM},
                    # A user JWT without permissions gets none of the account.
                    "default_permissions": {"pub": {"deny": [">"]}, "sub": {"deny": [">"]}},
                },
            },
            self.operator_seed,
            issued_at=now,
        )
        return operator, system, account

    def server_config(self, *, now: int | None = None) -> str:
        """The authentication part of a nats-server configuration (operator mode)."""
        operator, system, account = self._jwts(int(now if now is not None else time.time()))
        return "\n".join(
            [
                "# Safepath: decentralised JWT authentication (generated; public material only).",
                "# A service's JWT lists each subject it may use: larger than the 4 KB default.",
                "max_control_line: 32768",
                f"operator: {operator}",
                f"system_account: {_public(self.system_seed)}",
                "resolver: MEMORY",
                "resolver_preload: {",
                f"  {_public(self.system_seed)}: {system}",
                f"  {self.account_public_key}: {account}",
                "}",
                "",
            ]
        )

    def user_creds(self, name: str, permissions: Permissions, *, now: int | None = None) -> str:
        """A ``.creds`` file (user JWT and its seed) for ``nats.connect(user_credentials=…)``."""
        seed = _new_seed(nkeys.PREFIX_BYTE_USER)
        jwt = encode_jwt(
            {
                "name": name,
                "sub": _public(seed),
                "nats": {
                    "type": "user",
                    "version": 2,
                    "subs": -1,
                    "data": -1,
                    "payload": -1,
                    **permissions.claims(),
                },
            },
            self.account_seed,
            issued_at=int(now if now is not None else time.time()),
        )
        return CREDS_TEMPLATE.format(jwt=jwt, seed=seed.decode())


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a file only its owner can read (directory too), atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)
    return path


@dataclass(frozen=True)
class Credentials:
    """Where one installation keeps its trust and the credentials it issued."""

    directory: Path

    @property
    def trust(self) -> Trust:
        return Trust.load_or_create(self.directory / "trust")

    def server_config_path(self) -> Path:
        return write_private(self.directory / "server-auth.conf", self.trust.server_config())

    def path(self, identity: str) -> Path:
        return self.directory / "creds" / f"{identity.replace(':', '-')}.creds"

    def issue(self, identity: str, namespace: str) -> Path:
        """Write (or rewrite) the credentials of ``setup``, a service, or ``kind:id``."""
        if identity == "setup":
            perms = setup_permissions()
        elif identity in SERVICES:
            perms = service_permissions(identity, namespace)
        else:
            kind, _, rid = identity.partition(":")
            perms = recipient_permissions(kind, check_id(rid), namespace)
        return write_private(self.path(identity), self.trust.user_creds(identity, perms))
