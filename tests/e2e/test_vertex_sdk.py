"""Issue 19's must-show: through the official ``openai`` SDK against a live tuneforge (API and
Celery worker processes), a ``vertex/…`` job runs to ``succeeded`` against the Vertex emulator
(tuning REST, OAuth token exchange, Cloud Storage upload) with events, checkpoints and a cost;
quotes list Vertex models; a dataset Gemini cannot take is a 400 naming the line before
anything reaches Google."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from emulators.service_account import write_service_account_file
from emulators.testing import EmulatorHandle, running_emulator
from service.db.database import Database
from service.settings import Settings
from tests.e2e.harness import Processes, running_processes, wait_for
from tests.service.jobs.helpers import chat_lines, jsonl

PROJECT = "proj-e2e"
LOCATION = "europe-west4"
MODEL = "vertex/gemini-2.5-flash"


@pytest.fixture()
def vertex() -> Iterator[EmulatorHandle]:
    with running_emulator("vertex", phase_seconds=0.25) as emulator:
        yield emulator


@pytest.fixture()
def vertex_processes(
    settings: Settings, committed_db: Database, vertex: EmulatorHandle, tmp_path: Path
) -> Iterator[Processes]:
    key_file = write_service_account_file(
        tmp_path / "vertex-key.json", f"{vertex.base_url}/token", PROJECT
    )
    with running_processes(settings, {"vertex": vertex}, tmp_path / "logs") as procs:
        procs.env.update(
            TUNEFORGE_VERTEX_PROJECT=PROJECT,
            TUNEFORGE_VERTEX_LOCATION=LOCATION,
            TUNEFORGE_VERTEX_CREDENTIALS_FILE=str(key_file),
            TUNEFORGE_VERTEX_BUCKET="tuneforge-e2e",
            TUNEFORGE_VERTEX_STORAGE_BASE_URL=vertex.base_url,
        )
        yield procs


@pytest.mark.integration
def test_openai_sdk_runs_a_vertex_job_to_success(
    vertex_processes: Processes, vertex: EmulatorHandle, api_key: str, tmp_path: Path
) -> None:
    base = vertex_processes.start_api()
    vertex_processes.start_worker()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
    training = tmp_path / "train.jsonl"
    training.write_bytes(jsonl(chat_lines(12)))
    with training.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    quotes = httpx.post(
        f"{base}/v1/quotes",
        json={"training_file": uploaded.id},
        headers={"Authorization": f"Bearer {api_key}"},
    ).json()["data"]
    assert any(q.get("provider") == "vertex" for q in quotes), quotes

    job = client.fine_tuning.jobs.create(
        model=MODEL, training_file=uploaded.id, suffix="e2e", hyperparameters={"n_epochs": 2}
    )

    def finished() -> bool:
        nonlocal job
        job = client.fine_tuning.jobs.retrieve(job.id)
        return job.status in ("succeeded", "failed", "cancelled")

    try:
        wait_for(finished, 90, "vertex job to finish")
    except AssertionError:
        print(vertex_processes.logs())
        raise
    assert job.status == "succeeded", (job.error, vertex_processes.logs())
    extra = job.model_extra or {}
    assert extra["provider"] == "vertex" and extra["provider_job_id"]
    endpoint_prefix = f"projects/{PROJECT}/locations/{LOCATION}/endpoints/"
    assert job.fine_tuned_model and job.fine_tuned_model.startswith(endpoint_prefix)
    assert job.trained_tokens and job.trained_tokens > 0
    assert extra["cost"] is not None and extra["cost"]["basis"] == "trained_tokens_x_price"
    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events]
    assert any(m.startswith("Tuning succeeded") for m in messages), messages
    assert any(m.startswith("Step 12:") for m in messages), messages
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert sorted(c.step_number for c in checkpoints) == [4, 8, 12]
    assert all(c.fine_tuned_model_checkpoint.startswith(endpoint_prefix) for c in checkpoints)
    created = vertex.jobs()
    assert len(created) == 1
    spec = created[0]["body"]["supervisedTuningSpec"]
    assert spec["trainingDatasetUri"].startswith("gs://tuneforge-e2e/tuneforge/")
    assert spec["hyperParameters"]["epochCount"] == 2


@pytest.mark.integration
def test_a_dataset_gemini_cannot_take_is_refused_before_any_upload(
    vertex_processes: Processes, vertex: EmulatorHandle, api_key: str, tmp_path: Path
) -> None:
    base = vertex_processes.start_api()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
    lines = chat_lines(12)
    lines[4]["messages"][1]["name"] = "ann"  # Gemini turns have no speaker names
    training = tmp_path / "named.jsonl"
    training.write_text("".join(json.dumps(line) + "\n" for line in lines))
    with training.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")

    with pytest.raises(openai.BadRequestError) as caught:
        client.fine_tuning.jobs.create(model=MODEL, training_file=uploaded.id)

    body = caught.value.body
    assert isinstance(body, dict) and body["param"] == "training_file" and body["line"] == 5
    assert vertex.request_count() == 0  # no token, no upload, no job
