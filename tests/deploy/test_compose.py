"""deploy/compose.yaml: the image from the Dockerfile for every Safepath container, a
health check on every long-running one, the init -> nats -> migrate -> services order, and
the mounted NATS configuration really starts a JetStream server with this installation's
authentication. ``docker-compose config`` checks the file where a compose client exists.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from shared.devservers import free_port, nats_server_binary
from shared.natsauth import Credentials

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SAFEPATH = ("init", "migrate", "case", "referral", "notify")
LONG_RUNNING = ("postgres", "nats", "case", "referral", "notify")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def test_safepath_containers_run_the_image_built_from_the_dockerfile(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name in SAFEPATH:
        svc = services[name]
        assert svc["image"] == "safepath:dev", name
        build = svc["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == (
            ROOT / "Dockerfile"
        ), name
        command = " ".join(svc["command"])
        assert "pip" not in command, f"{name} installs at start: {command}"
        assert svc["volumes"] == ["safepath-data:/var/lib/safepath"], name
        assert svc["environment"]["SAFEPATH_DATA_DIR"] == "/var/lib/safepath", name
        assert svc["environment"]["SAFEPATH_ENVIRONMENT"] == "development", name
    for name in ("case", "referral", "notify"):
        assert services[name]["command"] == ["python", "-m", f"services.{name}"]
        assert services[name]["ports"][0].endswith(":8000"), name  # the image's port
    assert services["init"]["command"] == ["safepath", "nats", "init"]
    assert services["migrate"]["command"] == ["safepath", "migrate"]


def test_every_long_running_container_has_a_health_check(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in LONG_RUNNING:
        check = services[name].get("healthcheck", {})
        assert not check.get("disable"), name
        assert check.get("test", [None])[0] == "CMD", name
    for name in ("case", "referral", "notify"):
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "python", "-c"], name
        assert "http://127.0.0.1:8000/healthz" in test[3], name


def test_start_order(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def needs(name: str) -> dict[str, str]:
        return {k: v["condition"] for k, v in services[name].get("depends_on", {}).items()}

    assert needs("nats") == {"init": "service_completed_successfully"}
    assert needs("migrate") == {"postgres": "service_healthy", "nats": "service_healthy"}
    for name in ("case", "referral", "notify"):
        assert needs(name) == {"migrate": "service_completed_successfully"}, name


def _compose_client() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    client = _compose_client()
    if client is None:
        pytest.skip("no docker-compose or docker compose client on this machine")
    env = {**os.environ, "SAFEPATH_COMPOSE_POSTGRES_PASSWORD": "composetest1"}
    checked = subprocess.run(
        [*client, "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stderr
    # without the password the file refuses to start, saying which variable
    env.pop("SAFEPATH_COMPOSE_POSTGRES_PASSWORD")
    refused = subprocess.run(
        [*client, "-f", str(COMPOSE), "config", "-q"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "SAFEPATH_COMPOSE_POSTGRES_PASSWORD" in refused.stderr


def _mounts(compose: dict[str, Any]) -> dict[str, str]:
    """container path -> source of the nats service's volumes."""
    out = {}
    for volume in compose["services"]["nats"]["volumes"]:
        source, target = volume.split(":")[:2]
        out[target] = source
    return out


async def _jetstream_as_setup(url: str, creds: Path) -> None:
    nc = await nats.connect(url, user_credentials=str(creds), inbox_prefix="_INBOX.setup")
    try:
        await nc.jetstream().account_info()
    finally:
        await nc.close()
    with pytest.raises(Exception, match=r"(?i)authorization"):  # no anonymous client
        await nats.connect(url, max_reconnect_attempts=0, allow_reconnect=False)


def test_the_mounted_nats_configuration_starts_jetstream_with_the_installation_auth(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    """Lay the files out as the nats container sees them (the config, and the data volume
    beside it), move the ports and store to free ones, start nats-server, and ask it what
    the container's health check asks; the setup identity then reaches JetStream."""
    nats_svc = compose["services"]["nats"]
    config_path = nats_svc["command"][nats_svc["command"].index("-c") + 1]
    mounts = _mounts(compose)
    source = COMPOSE.parent / mounts[config_path]
    etc = tmp_path / Path(config_path).parent.relative_to("/")
    data_mount = Path(next(t for t, s in mounts.items() if s == "safepath-data"))
    assert data_mount.parent == Path(config_path).parent  # `include` is relative to the file
    data = tmp_path / data_mount.relative_to("/")
    credentials = Credentials(data / "nats-auth")  # what `safepath nats init` writes
    credentials.server_config_path()
    setup = credentials.issue("setup", "safepath")

    port, http = free_port(), free_port()
    text, n = re.subn(r"(?m)^port: 4222$", f"port: {port}", source.read_text())
    text, m = re.subn(r'(?m)^http: "127\.0\.0\.1:8222"$', f'http: "127.0.0.1:{http}"', text)
    text, k = re.subn(r"store_dir: /data", f"store_dir: {tmp_path / 'store'}", text)
    assert (n, m, k) == (1, 1, 1), "compose.conf changed shape: update this test"
    assert mounts["/data"] == "natsdata"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / Path(config_path).name).write_text(text)

    health = nats_svc["healthcheck"]["test"][-1]
    assert health == "http://127.0.0.1:8222/healthz"
    server = subprocess.Popen(
        [nats_server_binary(), "-c", str(etc / Path(config_path).name)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        status = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(
                    health.replace(":8222", f":{http}"), timeout=2
                ) as reply:
                    status = reply.status
                    break
            except OSError:
                if server.poll() is not None:
                    break
                time.sleep(0.1)
        assert status == 200, server.stderr.read().decode() if server.poll() else "no answer"
        asyncio.run(_jetstream_as_setup(f"nats://127.0.0.1:{port}", setup))
    finally:
        server.terminate()
        server.wait(20)
