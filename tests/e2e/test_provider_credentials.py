"""Bring your own key, end to end through a live API and a real Celery worker process: a
tenant's job reaches the (emulated) provider with the tenant's own key, another tenant's with
the operator's; the stored key is ciphertext; ``tuneforge secrets rotate`` re-encrypts it with
a new key, the old key is dropped, and the tenant's jobs keep reaching the provider with its
own key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import openai
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import text

from emulators.testing import EmulatorHandle
from service.auth.roles import KeyRole
from service.db.database import Database
from service.db.session import session_scope
from service.encryption.keyring import UndecryptableSecret, keyring_for
from service.settings import Settings
from tests.e2e.harness import ROOT, Processes, wait_for
from tests.factories import auth, make_key, make_tenant

MODEL = "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
TENANT_KEY = "tgp_v1_acme-own-together-key-9c2e"


def _run_job(base: str, api_key: str, training_path: Path, processes: Processes) -> str:
    """A together job created with the openai SDK, run to success; its provider job id."""
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
    with training_path.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=MODEL, training_file=uploaded.id)

    def finished() -> bool:
        nonlocal job
        job = client.fine_tuning.jobs.retrieve(job.id)
        return job.status in ("succeeded", "failed", "cancelled")

    wait_for(finished, 60, f"job {job.id} to finish")
    assert job.status == "succeeded", (job.error, processes.logs())
    provider_job_id: str = (job.model_extra or {})["provider_job_id"]
    return provider_job_id


def _authorization_of(emulator: EmulatorHandle, provider_job_id: str) -> str:
    [found] = [job for job in emulator.jobs() if job["id"] == provider_job_id]
    authorization: str = found["authorization"]
    return authorization


def _stored_key(database: Database, tenant_id: str) -> str:
    with database.engine.connect() as conn:
        value: str = conn.execute(
            text("SELECT api_key_encrypted FROM provider_credentials WHERE tenant_id = :t"),
            {"t": tenant_id},
        ).scalar_one()
    return value


@pytest.mark.integration
def test_tenant_key_reaches_the_provider_and_survives_rotation(
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    committed_db: Database,
    settings: Settings,
    training_path: Path,
) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    processes.env["TUNEFORGE_ENCRYPTION_KEYS"] = old_key
    with session_scope(committed_db.sessions) as session:
        acme, globex = make_tenant(session, "acme"), make_tenant(session, "globex")
        acme_admin = make_key(session, acme, role=KeyRole.ADMIN)
        globex_member = make_key(session, globex)
        acme_id = acme.id
    base = processes.start_api()
    processes.start_worker()

    stored = httpx.put(
        f"{base}/v1/provider_credentials/together",
        json={"api_key": TENANT_KEY},
        headers=auth(acme_admin),
    )
    assert stored.status_code == 200, stored.text
    assert stored.json()["api_key_last4"] == "9c2e" and TENANT_KEY not in stored.text

    together = emulators["together"]
    acme_job = _run_job(base, acme_admin, training_path, processes)
    globex_job = _run_job(base, globex_member, training_path, processes)
    assert _authorization_of(together, acme_job) == f"Bearer {TENANT_KEY}"
    assert _authorization_of(together, globex_job) == "Bearer together-test-key"  # the operator's

    ciphertext = _stored_key(committed_db, acme_id)
    assert TENANT_KEY not in ciphertext
    old_only = settings.model_copy(update={"encryption_keys": SecretStr(old_key)})
    assert keyring_for(old_only).decrypt(ciphertext) == TENANT_KEY

    processes.kill(processes.api)
    processes.kill(processes.worker)
    rotate = subprocess.run(
        [sys.executable, "-m", "tuneforge_cli.main", "secrets", "rotate"],
        env={**processes.env, "TUNEFORGE_ENCRYPTION_KEYS": f"{new_key},{old_key}"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rotate.returncode == 0, rotate.stdout + rotate.stderr
    assert "re-encrypted 1 provider credential(s)" in rotate.stdout
    rotated = _stored_key(committed_db, acme_id)
    assert rotated != ciphertext and TENANT_KEY not in rotated
    new_only = settings.model_copy(update={"encryption_keys": SecretStr(new_key)})
    assert keyring_for(new_only).decrypt(rotated) == TENANT_KEY
    with pytest.raises(UndecryptableSecret):
        keyring_for(old_only).decrypt(rotated)

    processes.env["TUNEFORGE_ENCRYPTION_KEYS"] = new_key  # the old key is gone
    base = processes.start_api()
    processes.start_worker()
    after_rotation = _run_job(base, acme_admin, training_path, processes)
    assert _authorization_of(together, after_rotation) == f"Bearer {TENANT_KEY}"
