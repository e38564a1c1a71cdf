"""The bus side of one installation: NATS trust, credentials, event keys, streams.

``safepath up`` and the end-to-end harness both run the system from a data directory;
this is what they share, so the tests run exactly what a newcomer runs:

- ``<data>/nats-auth/``: the operator/account seeds, the server's auth configuration and
  one ``.creds`` file per identity (setup, case, referral, notify), all owner-only;
- ``<data>/secrets/event_signing_key_<service>``: each service's Ed25519 event key.

A service process gets only its own credentials and its own signing key, plus every
service's public key to verify what it consumes (``service_env``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.bus import connect
from shared.jetstream import declare_streams
from shared.natsauth import SERVICES, Credentials
from shared.secretfiles import load_or_create, secrets_dir
from shared.settings import Settings
from shared.signatures import format_verify_keys, new_signing_key


@dataclass(frozen=True)
class Installation:
    data_dir: Path
    namespace: str

    @property
    def credentials(self) -> Credentials:
        return Credentials(self.data_dir / "nats-auth")

    def server_config(self) -> Path:
        """The nats-server configuration file with this installation's trust."""
        return self.credentials.server_config_path()

    def event_keys(self) -> dict[str, str]:
        return {
            svc: load_or_create(
                secrets_dir(self.data_dir) / f"event_signing_key_{svc}", new_signing_key
            )
            for svc in SERVICES
        }

    def has_event_keys(self) -> bool:
        """Whether this data directory holds the services' event keys (``safepath up`` ran)."""
        return all(
            (secrets_dir(self.data_dir) / f"event_signing_key_{svc}").exists() for svc in SERVICES
        )

    def issue_all(self) -> dict[str, Path]:
        """(Re)issue the setup and service credentials for this namespace."""
        return {who: self.credentials.issue(who, self.namespace) for who in ("setup", *SERVICES)}

    def service_env(self, service: str) -> dict[str, str]:
        keys = self.event_keys()
        return {
            "SAFEPATH_NATS_CREDENTIALS": str(self.credentials.path(service)),
            "SAFEPATH_EVENT_SIGNING_KEY": keys[service],
            "SAFEPATH_EVENT_VERIFY_KEYS": format_verify_keys(keys),
        }

    def setup_settings(self, nats_url: str) -> Settings:
        return Settings(
            namespace=self.namespace,
            nats_url=nats_url,
            nats_credentials=self.credentials.path("setup"),
            data_dir=self.data_dir,
        )

    async def declare_streams(self, nats_url: str) -> None:
        """Create or update every stream, as the setup identity."""
        settings = self.setup_settings(nats_url)
        nc = await connect(settings, "setup", max_reconnect_attempts=5)
        try:
            await declare_streams(nc.jetstream(timeout=10.0), settings)
        finally:
            await nc.close()


def with_local_bus_identity(settings: Settings, service: str) -> Settings:
    """In development and test, a service started by hand (or by compose) with a data
    directory that ``safepath up``/``safepath migrate`` prepared finds its own credentials
    and keys there. Production always names them explicitly."""
    if settings.environment == "production":
        return settings
    install = Installation(Path(settings.data_dir), settings.namespace)
    updates: dict[str, object] = {}
    if settings.nats_credentials is None and install.credentials.path(service).exists():
        updates["nats_credentials"] = install.credentials.path(service)
    if settings.event_signing_key is None and install.has_event_keys():
        env = install.service_env(service)
        updates["event_signing_key"] = env["SAFEPATH_EVENT_SIGNING_KEY"]
        updates["event_verify_keys"] = (
            settings.event_verify_keys or env["SAFEPATH_EVENT_VERIFY_KEYS"]
        )
    return settings.model_copy(update=updates) if updates else settings
