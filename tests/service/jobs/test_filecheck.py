"""A large file validated at upload for another provider is still checked against the job's
provider's rules at create, and the 400 names the first line that breaks them."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from sqlalchemy.orm import Session

from providers.catalog import find_model
from service.billing.revalidation import REVALIDATE_MAX_BYTES
from service.db.models import File
from service.errors import InvalidRequest
from service.jobs.api.filecheck import checked_report
from service.jobs.api.targets import Target
from service.jobs.repository import JobRepository
from service.settings import Settings
from tests.factories import make_tenant

SMALL = {
    "messages": [{"role": "user", "content": "q " * 20}, {"role": "assistant", "content": "a"}]
}
# Fine on OpenAI, refused by Together (no developer role).
DEVELOPER = {
    "messages": [
        {"role": "developer", "content": "be brief"},
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a"},
    ]
}


def test_a_large_file_is_rechecked_for_the_jobs_provider(
    db_session: Session, settings: Settings
) -> None:
    small, bad = json.dumps(SMALL) + "\n", json.dumps(DEVELOPER) + "\n"
    repeats = REVALIDATE_MAX_BYTES // len(small) + 100
    data = (small * 2 + bad + small * repeats).encode()
    assert len(data) > REVALIDATE_MAX_BYTES
    settings.files_dir.mkdir(parents=True, exist_ok=True)
    path = settings.files_dir / "large-for-openai.jsonl"
    path.write_bytes(data)
    tenant = make_tenant(db_session)
    file = File(
        tenant_id=tenant.id,
        filename=path.name,
        purpose="fine-tune",
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage_path=str(path),
        status="processed",
        format="chat",
        # What the upload validated: OpenAI's rules, which the developer role passes.
        validation={
            "valid": True,
            "provider": "openai",
            "model": None,
            "format": "chat",
            "examples": repeats + 3,
            "errors": [],
            "tokens": {"total": 60 * (repeats + 3)},
        },
    )
    db_session.add(file)
    db_session.flush()
    info = find_model("together", "Qwen/Qwen2.5-7B-Instruct")
    assert info is not None
    target = Target(provider="together", provider_model=info.model, info=info, options={})

    started = time.perf_counter()
    with pytest.raises(InvalidRequest) as raised:
        checked_report(
            JobRepository(db_session), settings, tenant.id, file.id, "training_file", target
        )
    elapsed = time.perf_counter() - started
    assert "line 3" in str(raised.value) and "together" in str(raised.value)
    assert raised.value.extra == {"line": 3}
    print(f"re-checked {len(data) / 1e6:.1f} MB in {elapsed:.2f} s")
