"""Secrets of an installation: generated per data directory in development and test,
owner-only files; required and checked for strength in production."""

from __future__ import annotations

import base64
import stat
import threading
from pathlib import Path

import pytest

from shared.crypto import master_key_from_setting
from shared.sealer import load_signing_key
from shared.secretfiles import load_or_create, read_secret
from shared.settings import GENERATED_SECRETS, Settings

SECRET_FIELDS = ("jwt_secret", "master_key", "case_reference_key", "audit_signing_key")
# Values this repository once published as development defaults (now refused).
PUBLISHED = {
    "jwt_secret": "safepath-development-secret-do-not-use-in-production",
    "master_key": "ZGV2ZWxvcG1lbnQtbWFzdGVyLWtleS0zMi1ieXRlcyE=",
    "case_reference_key": "safepath-development-case-reference-key",
    "audit_signing_key": "c2FmZXBhdGgtZGV2ZWxvcG1lbnQtYXVkaXQta2V5ISE=",
}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


STRONG = {
    "jwt_secret": "j" * 20 + "0123456789abcdef",
    "master_key": b64(bytes(range(32))),
    "case_reference_key": "r" * 16 + "fedcba9876543210",
    "audit_signing_key": b64(bytes(range(32, 64))),
}


@pytest.fixture(autouse=True)
def _no_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*SECRET_FIELDS, "jwks_url", "environment", "data_dir"):
        monkeypatch.delenv(f"SAFEPATH_{name.upper()}", raising=False)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def secrets_of(settings: Settings) -> dict[str, str]:
    return {name: getattr(settings, name) for name in SECRET_FIELDS}


# -- development and test: generated per installation -------------------------------------


@pytest.mark.parametrize("environment", ["development", "test"])
def test_each_secret_is_generated_into_the_data_dir_owner_only(
    tmp_path: Path, environment: str
) -> None:
    settings = Settings(environment=environment, data_dir=tmp_path / "data")

    directory = tmp_path / "data" / "secrets"
    assert mode(directory) == 0o700
    assert sorted(p.name for p in directory.iterdir()) == sorted(SECRET_FIELDS)
    for name in SECRET_FIELDS:
        assert mode(directory / name) == 0o600, name
        assert read_secret(directory / name) == getattr(settings, name)


def test_generated_secrets_are_strong_and_well_formed(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)

    assert len(master_key_from_setting(settings.master_key)) == 32
    load_signing_key(settings.audit_signing_key)
    assert len(base64.b64decode(settings.audit_signing_key)) == 32
    assert len(settings.jwt_secret.encode()) >= 32
    assert len(settings.case_reference_key.encode()) >= 32
    # They would pass the production checks too.
    Settings(environment="production", **secrets_of(settings)).check_production()


def test_every_process_with_the_same_data_dir_gets_the_same_secrets(tmp_path: Path) -> None:
    first = secrets_of(Settings(data_dir=tmp_path))

    assert secrets_of(Settings(data_dir=tmp_path)) == first
    assert secrets_of(Settings(environment="test", data_dir=tmp_path)) == first


def test_the_data_dir_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEPATH_DATA_DIR", str(tmp_path / "elsewhere"))

    settings = Settings()

    assert settings.data_dir == tmp_path / "elsewhere"
    assert read_secret(tmp_path / "elsewhere" / "secrets" / "jwt_secret") == settings.jwt_secret


def test_two_installations_get_different_secrets(tmp_path: Path) -> None:
    one = secrets_of(Settings(data_dir=tmp_path / "one"))
    two = secrets_of(Settings(data_dir=tmp_path / "two"))

    for name in SECRET_FIELDS:
        assert one[name] != two[name], name


def test_a_secret_given_in_the_environment_wins_and_is_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAFEPATH_MASTER_KEY", STRONG["master_key"])

    settings = Settings(data_dir=tmp_path)

    assert settings.master_key == STRONG["master_key"]
    assert not (tmp_path / "secrets" / "master_key").exists()
    assert (tmp_path / "secrets" / "jwt_secret").exists()


def test_production_generates_nothing(tmp_path: Path) -> None:
    settings = Settings(environment="production", data_dir=tmp_path)

    assert not (tmp_path / "secrets").exists()
    assert all(value == "" for value in secrets_of(settings).values())


def test_a_secret_file_others_could_read_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "jwt_secret"
    path.parent.mkdir(mode=0o700)
    path.write_text("kept-value-of-an-earlier-start-0123456789\n")
    path.chmod(0o644)

    settings = Settings(data_dir=tmp_path)

    assert settings.jwt_secret == "kept-value-of-an-earlier-start-0123456789"
    assert mode(path) == 0o600


def test_processes_starting_together_agree_on_one_value(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "race"
    results: list[str] = []
    start = threading.Barrier(8)

    def worker(i: int) -> None:
        start.wait()
        results.append(load_or_create(path, lambda: f"value-{i}"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(results)) == 1 and len(results) == 8
    assert read_secret(path) == results[0]
    assert [p.name for p in path.parent.iterdir()] == ["race"]  # no temporary files left


def test_the_generators_cover_every_secret() -> None:
    assert sorted(GENERATED_SECRETS) == sorted(SECRET_FIELDS)


# -- production: required and strong --------------------------------------------------------


def production(**changes: str) -> Settings:
    return Settings(environment="production", **{**STRONG, **changes})


def refused(settings: Settings) -> str:
    with pytest.raises(ValueError) as e:
        settings.check_production()
    return str(e.value)


def test_strong_secrets_pass() -> None:
    production().check_production()


def test_production_without_any_secret_names_each_of_them() -> None:
    message = refused(Settings(environment="production"))

    for env in (
        "SAFEPATH_JWT_SECRET",
        "SAFEPATH_MASTER_KEY",
        "SAFEPATH_CASE_REFERENCE_KEY",
        "SAFEPATH_AUDIT_SIGNING_KEY",
    ):
        assert f"{env} must be set in production" in message


def test_a_short_jwt_secret_is_refused() -> None:
    value = "s" * 31
    message = refused(production(jwt_secret=value))

    assert "SAFEPATH_JWT_SECRET must be at least 32 bytes" in message
    assert value not in message


def test_no_jwt_secret_is_needed_with_jwks() -> None:
    production(jwt_secret="", jwks_url="https://id.example.tj/certs").check_production()


@pytest.mark.parametrize(
    "value",
    [
        b64(bytes(31)),  # too short
        b64(bytes(33)),  # too long
        "not base64 at all!",
        "x" * 32,  # 32 characters, not 32 bytes of base64
    ],
)
def test_a_master_key_that_is_not_32_bytes_of_base64_is_refused(value: str) -> None:
    message = refused(production(master_key=value))

    assert "SAFEPATH_MASTER_KEY must be the base64 of exactly 32 random bytes" in message
    assert value not in message


def test_a_one_letter_case_reference_key_is_refused_without_echoing_it() -> None:
    message = refused(production(case_reference_key="x"))

    assert message == "SAFEPATH_CASE_REFERENCE_KEY must be at least 32 bytes"
    assert "'x'" not in message and "=x" not in message and not message.endswith(" x")


def test_a_short_case_reference_key_from_the_environment_stops_the_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in STRONG.items():
        monkeypatch.setenv(f"SAFEPATH_{name.upper()}", value)
    monkeypatch.setenv("SAFEPATH_ENVIRONMENT", "production")
    monkeypatch.setenv("SAFEPATH_CASE_REFERENCE_KEY", "x")

    assert "SAFEPATH_CASE_REFERENCE_KEY must be at least 32 bytes" in refused(Settings())


@pytest.mark.parametrize("value", [b64(bytes(16)), b64(bytes(64)), "seed!"])
def test_an_audit_signing_key_that_is_not_an_ed25519_seed_is_refused(value: str) -> None:
    message = refused(production(audit_signing_key=value))

    assert "SAFEPATH_AUDIT_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed" in message
    assert value not in message


@pytest.mark.parametrize("name", SECRET_FIELDS)
def test_the_once_published_development_values_are_refused(name: str) -> None:
    value = PUBLISHED[name]
    message = refused(production(**{name: value}))

    assert f"SAFEPATH_{name.upper()} is a published development value" in message
    assert value not in message


def test_every_problem_is_reported_at_once() -> None:
    message = refused(production(jwt_secret="short", master_key="short", audit_signing_key=""))

    assert "SAFEPATH_JWT_SECRET" in message
    assert "SAFEPATH_MASTER_KEY" in message
    assert "SAFEPATH_AUDIT_SIGNING_KEY must be set" in message
    assert "SAFEPATH_CASE_REFERENCE_KEY" not in message
