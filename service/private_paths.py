"""Files and folders in the data dir that only the service's own user may read: the SQLite
database, datasets, artifacts and the development encryption key hold tenants' data."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` (and any missing parent) created, and ``path`` itself made 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    path.chmod(DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` created empty if missing, and made 0600 either way (SQLite gives its journal
    and WAL files the mode of the database file, so pre-creating the database covers them)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    os.close(fd)
    path.chmod(FILE_MODE)
    return path


def open_private(path: Path, mode: str = "wb") -> int:
    """A new file's descriptor, 0600 from its first byte (never world-readable in between)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    return os.open(path, flags, FILE_MODE)


def read_or_create_secret(path: Path, make: Callable[[], bytes]) -> str:
    """The secret kept in ``path`` (0600, in a 0700 folder), written from ``make()`` on first
    use. Processes sharing the data dir (API, workers) race to create it: the first link wins
    and every one reads the winner's secret."""
    if not path.exists():
        private_dir(path.parent)
        candidate = path.parent / f".{path.name}.{secrets.token_hex(8)}"
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(make())
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won the race
                os.link(candidate, path)
        finally:
            candidate.unlink(missing_ok=True)
    return path.read_text(encoding="ascii").strip()
