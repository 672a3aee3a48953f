"""Files and folders in the data dir that only the service's own user may read: the SQLite
database, datasets, artifacts and the development encryption key hold tenants' data."""

from __future__ import annotations

import os
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
