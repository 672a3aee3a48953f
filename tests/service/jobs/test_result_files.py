"""A succeeded job's result files are file rows with ids (purpose ``fine-tune-results``), read
through the openai SDK's ``files.content``: the step metrics CSV for every job, and a local
job's training outputs too (also served by name under the job)."""

from __future__ import annotations

from typing import Any

import openai
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from service.db.models import Job
from service.jobs.transitions import RUNNING, SUCCEEDED, transition
from service.lifecycle.progress import ProgressWriter
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

JOBS = "/v1/fine_tuning/jobs"


def _created_job(
    client: TestClient, session: Session, settings: Settings
) -> tuple[str, Job, openai.OpenAI]:
    tenant = make_tenant(session)
    key = make_key(session, tenant)
    file = make_file(session, settings, tenant)
    session.commit()
    body: dict[str, Any] = {"model": "gpt-4o-mini-2024-07-18", "training_file": file.id}
    created = client.post(JOBS, json=body, headers=auth(key))
    assert created.status_code == 200, created.text
    job = session.get(Job, created.json()["id"])
    assert job is not None
    sdk = openai.OpenAI(
        base_url=f"{client.base_url}/v1", api_key=key, http_client=client, max_retries=0
    )
    return key, job, sdk


def test_a_succeeded_jobs_metrics_csv_is_a_file_the_sdk_reads(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    _, job, sdk = _created_job(client, db_session, settings)
    transition(db_session, job, RUNNING, reason="started", settings=settings)
    progress = ProgressWriter(db_session, job)
    progress.metrics(1, {"train_loss": 2.0, "valid_loss": 2.25, "train_accuracy": 0.5})
    progress.metrics(2, {"train_loss": 1.5, "full_valid_loss": 1.75})
    transition(db_session, job, SUCCEEDED, reason="done", settings=settings)
    db_session.commit()

    finished = sdk.fine_tuning.jobs.retrieve(job.id)
    [result_id] = finished.result_files
    assert result_id.startswith("file-")
    described = sdk.files.retrieve(result_id)
    assert described.purpose == "fine-tune-results" and described.filename == "step_metrics.csv"
    content = sdk.files.content(result_id)
    assert content.text == (
        "step,train_loss,train_accuracy,valid_loss,full_valid_loss\n1,2.0,0.5,2.25,\n2,1.5,,,1.75\n"
    )
    assert described.bytes == len(content.content)
    assert content.response.headers["content-type"].startswith("text/csv")
    listed = sdk.files.list(purpose="fine-tune-results").data
    assert [f.id for f in listed] == [result_id]


def test_a_local_jobs_outputs_are_result_files_by_id_and_by_name(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    key, job, sdk = _created_job(client, db_session, settings)
    folder = settings.artifacts_dir / job.id / "adapter"
    folder.mkdir(parents=True)
    adapter = folder / "adapter_model.safetensors"
    adapter.write_bytes(b"\x00weights\x01" * 10)
    transition(db_session, job, RUNNING, reason="started", settings=settings)
    transition(
        db_session,
        job,
        SUCCEEDED,
        reason="done",
        settings=settings,
        results=[("adapter/adapter_model.safetensors", adapter)],
    )
    db_session.commit()

    metrics_id, adapter_id = sdk.fine_tuning.jobs.retrieve(job.id).result_files
    assert sdk.files.content(metrics_id).text == "step\n"  # no metrics recorded
    assert sdk.files.retrieve(adapter_id).filename == "adapter/adapter_model.safetensors"
    assert sdk.files.content(adapter_id).content == adapter.read_bytes()
    by_name = client.get(
        f"{JOBS}/{job.id}/results/adapter/adapter_model.safetensors", headers=auth(key)
    )
    assert by_name.status_code == 200 and by_name.content == adapter.read_bytes()
    missing = client.get(f"{JOBS}/{job.id}/results/data/train.jsonl", headers=auth(key))
    assert missing.status_code == 404
