"""Test data for jobs: small valid and invalid training files stored like uploads."""

from __future__ import annotations

import hashlib
import json
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from service.db.models import File, Tenant
from service.files.service import apply_validation
from service.settings import Settings


def chat_lines(count: int = 12) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "system", "content": "You answer briefly."},
                {"role": "user", "content": f"What is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i + i}."},
            ]
        }
        for i in range(count)
    ]


def jsonl(lines: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


def make_file(
    session: Session,
    settings: Settings,
    tenant: Tenant,
    content: bytes | None = None,
    *,
    provider: str = "openai",
) -> File:
    content = content if content is not None else jsonl(chat_lines())
    file_id = f"file-{secrets.token_hex(8)}"
    path = Path(settings.files_dir) / f"{file_id}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    file = File(
        id=file_id,
        tenant_id=tenant.id,
        filename="train.jsonl",
        purpose="fine-tune",
        bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),  # as an upload stores it; a split's seed
        storage_path=str(path),
        status="uploaded",
        validation={"pending": True, "provider": provider, "model": None},
    )
    session.add(file)
    apply_validation(file, settings)
    session.flush()
    return file
