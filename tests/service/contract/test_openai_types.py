"""Our job, file, event, checkpoint and list responses, read back by the openai SDK's own
pydantic types (strict validation, not the SDK's lenient construct), so a client of the SDK
never meets a field of the wrong shape."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from openai.pagination import SyncCursorPage
from openai.types import FileDeleted, FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from pydantic import BaseModel
from sqlalchemy.orm import Session

from service.db.models import Checkpoint, Job
from service.settings import Settings
from tests.factories import auth, make_key, make_tenant
from tests.service.jobs.helpers import make_file

JOBS = "/v1/fine_tuning/jobs"


def _get(client: TestClient, url: str, headers: dict[str, str]) -> Any:
    response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def _page_of(item: type[BaseModel], body: dict[str, Any]) -> None:
    assert body["object"] == "list" and isinstance(body["has_more"], bool)
    SyncCursorPage[item].model_validate(body)  # type: ignore[valid-type]
    for entry in body["data"]:
        item.model_validate(entry)


@pytest.fixture()
def tenant_job(
    client: TestClient, db_session: Session, settings: Settings
) -> tuple[dict[str, str], dict[str, Any]]:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    file = make_file(db_session, settings, tenant)
    db_session.commit()
    body = {
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": file.id,
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        "suffix": "contract",
        "metadata": {"team": "search"},
        "integrations": [{"type": "wandb", "wandb": {"project": "tf", "tags": ["a"]}}],
    }
    created = client.post(JOBS, json=body, headers=headers)
    assert created.status_code == 200, created.text
    return headers, created.json()


def test_job_event_checkpoint_and_their_lists_are_the_sdks_types(
    client: TestClient, db_session: Session, tenant_job: tuple[dict[str, str], dict[str, Any]]
) -> None:
    headers, created = tenant_job
    job = FineTuningJob.model_validate(created)
    assert job.method is not None and job.method.type == "supervised"
    assert job.method.supervised is not None
    hyperparameters = job.method.supervised.hyperparameters
    assert hyperparameters is not None and hyperparameters.n_epochs == 2
    assert job.integrations and job.integrations[0].wandb.project == "tf"

    row = db_session.get(Job, created["id"])
    assert row is not None
    db_session.add(
        Checkpoint(tenant_id=row.tenant_id, job_id=row.id, step=10, metrics={"train_loss": 0.5})
    )
    db_session.commit()

    FineTuningJob.model_validate(_get(client, f"{JOBS}/{row.id}", headers))
    _page_of(FineTuningJob, _get(client, JOBS, headers))
    events = _get(client, f"{JOBS}/{row.id}/events", headers)
    assert events["data"]
    _page_of(FineTuningJobEvent, events)
    checkpoints = _get(client, f"{JOBS}/{row.id}/checkpoints", headers)
    assert checkpoints["data"]
    _page_of(FineTuningJobCheckpoint, checkpoints)
    cancelled = client.post(f"{JOBS}/{row.id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    assert FineTuningJob.model_validate(cancelled.json()).status == "cancelled"


def test_files_and_their_list_are_the_sdks_types(
    client: TestClient, db_session: Session, settings: Settings
) -> None:
    tenant = make_tenant(db_session)
    headers = auth(make_key(db_session, tenant))
    file = make_file(db_session, settings, tenant)
    db_session.commit()
    FileObject.model_validate(_get(client, f"/v1/files/{file.id}", headers))
    _page_of(FileObject, _get(client, "/v1/files", headers))
    deleted = client.delete(f"/v1/files/{file.id}", headers=headers)
    FileDeleted.model_validate(deleted.json())


def test_integrations_are_echoed_and_the_events_say_we_do_not_call_them(
    client: TestClient, tenant_job: tuple[dict[str, str], dict[str, Any]]
) -> None:
    headers, created = tenant_job
    [integration] = created["integrations"]
    assert integration["type"] == "wandb"
    assert integration["wandb"] == {"project": "tf", "name": None, "entity": None, "tags": ["a"]}
    again = _get(client, f"{JOBS}/{created['id']}", headers)
    assert again["integrations"] == created["integrations"]
    events = _get(client, f"{JOBS}/{created['id']}/events", headers)["data"]
    assert any("does not send metrics to Weights & Biases" in e["message"] for e in events)
