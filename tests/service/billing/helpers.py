"""Plain factories for the billing tests: stored, validated files; jobs; ledger entries."""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from service.datasets.validate import validate_file
from service.db.models import CostLedgerEntry, File, Job, Tenant
from service.settings import Settings


def chat_rows(n: int, *, end_with_user: bool = False) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        messages = [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": f"question {i} about things"},
            {"role": "assistant", "content": f"answer {i}"},
        ]
        if end_with_user:
            messages.append({"role": "user", "content": "more?"})
        rows.append({"messages": messages})
    return rows


def stored_file(
    session: Session,
    settings: Settings,
    tenant: Tenant,
    rows: list[dict[str, Any]],
    *,
    provider: str = "openai",
    model: str | None = None,
) -> File:
    """Writes the JSONL under ``files_dir`` and adds a ``File`` validated as at upload."""
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    path = settings.files_dir / f"{secrets.token_hex(8)}.jsonl"
    path.write_bytes(data)
    report = validate_file(path, provider=provider, model=model).to_dict()
    file = File(
        tenant_id=tenant.id,
        filename=path.name,
        purpose="fine-tune",
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_path=str(path),
        status="processed" if report["valid"] else "error",
        format=report["format"],
        validation=report,
    )
    session.add(file)
    session.flush()
    return file


def make_job(session: Session, tenant: Tenant, **fields: Any) -> Job:
    training = File(
        tenant_id=tenant.id,
        filename="train.jsonl",
        purpose="fine-tune",
        bytes=1,
        sha256="0" * 64,
        storage_path="/dev/null",
    )
    session.add(training)
    session.flush()
    values: dict[str, Any] = {
        "provider": "openai",
        "model": "gpt-4o-mini-2024-07-18",
        "status": "succeeded",
    }
    values.update(fields)
    job = Job(tenant_id=tenant.id, training_file_id=training.id, **values)
    session.add(job)
    session.flush()
    return job


def ledger_entry(
    session: Session,
    tenant: Tenant,
    amount: str,
    occurred_at: datetime,
    *,
    provider: str = "openai",
    model: str = "gpt-4o-mini-2024-07-18",
    billed_tokens: int | None = None,
    kind: str | None = None,
) -> CostLedgerEntry:
    entry = CostLedgerEntry(
        tenant_id=tenant.id,
        job_id=None,
        provider=provider,
        model=model,
        kind=kind or f"training-{secrets.token_hex(4)}",
        amount=Decimal(amount),
        basis="test",
        billed_tokens=billed_tokens,
        occurred_at=occurred_at,
    )
    session.add(entry)
    session.flush()
    return entry
