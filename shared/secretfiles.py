"""Secrets of one installation, generated at first start into its data directory.

A development or test installation needs keys (JWT secret, master key, case reference
key, audit signing key, the embedded Postgres password) but must not share them with
every other copy of the code. Each is generated the first time it is needed into
``<data_dir>/secrets/<name>``, a file only its owner can read (0600, in a 0700
directory), and read back by every later process started with the same data directory:
the three services ``safepath up`` starts, ``safepath token``, ``safepath demo``.

Creation is atomic (written to a private temporary file, then hard-linked into place), so
processes starting together agree on one value. Values are never printed or logged; the
messages here name files, never their content. Production sets every secret in its
environment instead (``Settings.check_production``).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SECRETS_DIR = "secrets"

# SHA-256 of values that were once published in this repository as development defaults
# (JWT secret, audit signing key, master key, case reference key). Anyone can read them,
# so they are refused in production whatever their length.
_PUBLISHED = frozenset(
    {
        "ab1c89f20430c25bf9aa60645e145cd9f501aa1d47c5870d6cfa3ec42d2040c3",
        "4a5e4167c91093a73f43fbc63956527c7760bf11b4341c1e1e163b183bc50be3",
        "53be7bb5d54d14099340ae06b7e22733b2007f04f25537d683a53474a63cbeeb",
        "f0f9b2a9fc67d09e976a0e8a07b520ddeb735358632f8665f0f587c7c7cf8303",
    }
)


def is_published(value: str) -> bool:
    """Whether ``value`` is one of the development secrets this code once published."""
    return hashlib.sha256(value.encode()).hexdigest() in _PUBLISHED


def secrets_dir(data_dir: Path) -> Path:
    return Path(data_dir) / SECRETS_DIR


def random_text(nbytes: int = 48) -> str:
    """``nbytes`` random bytes as URL-safe text (no quoting needed anywhere)."""
    return secrets.token_urlsafe(nbytes)


def random_key_b64(nbytes: int = 32) -> str:
    """``nbytes`` random bytes, standard base64 (master key, Ed25519 seed)."""
    return base64.b64encode(secrets.token_bytes(nbytes)).decode("ascii")


def private_dir(directory: Path) -> Path:
    """Create ``directory`` (and missing parents) and make it owner-only (0700)."""
    directory = Path(directory)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != 0o700:
        os.chmod(directory, 0o700)
    return directory


def read_secret(path: Path) -> str:
    """The secret in ``path``; a file others could read is made owner-only first."""
    path = Path(path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("secret file %s was readable by others (%o); made it 0600", path, mode)
        os.chmod(path, 0o600)
    value = path.read_text(encoding="utf-8").strip()
    if not value:
        raise ValueError(f"secret file {path} is empty; restore it from a backup or remove it")
    return value


def load_or_create(path: Path, generate: Callable[[], str]) -> str:
    """The secret in ``path``, generated with ``generate()`` and stored 0600 (in a 0700
    directory) the first time. Safe when several processes call it at once: all of them
    get the value of the one that created the file."""
    path = Path(path)
    try:
        return read_secret(path)
    except FileNotFoundError:
        pass
    private_dir(path.parent)
    value = generate().strip()
    if not value:
        raise ValueError(f"generated an empty secret for {path}")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(value + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)  # fails if another process created it first
        except FileExistsError:
            return read_secret(path)
        except OSError:  # a file system without hard links: create it in place
            try:
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return read_secret(path)
            with os.fdopen(out, "w", encoding="utf-8") as f:
                f.write(value + "\n")
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    log.info("generated secret file %s", path)
    return value
