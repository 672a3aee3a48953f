"""Filenames are shown back to users but never used to build a path on disk."""

from __future__ import annotations

import unicodedata
from pathlib import Path

_MAX = 255


def sanitize_filename(raw: str | None) -> str:
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".") or "upload.jsonl"
    return name[:_MAX]


def storage_path(files_dir: Path, tenant_id: str, file_id: str) -> Path:
    """Where a file's bytes live: derived only from ids we generated."""
    return files_dir / tenant_id / f"{file_id}.jsonl"
