"""The issue's must-show: the official ``openai`` SDK against a live tuneforge whose
adapters point at provider emulators, with real Celery worker processes doing the work."""

from __future__ import annotations

from pathlib import Path

import openai
import pytest

from emulators.testing import EmulatorHandle
from tests.e2e.harness import Processes, wait_for

MODELS = ["gpt-4o-mini-2024-07-18", "together/meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"]


@pytest.mark.integration
@pytest.mark.parametrize("model", MODELS)
def test_openai_sdk_runs_a_job_to_success(
    model: str,
    processes: Processes,
    emulators: dict[str, EmulatorHandle],
    api_key: str,
    training_path: Path,
) -> None:
    base = processes.start_api()
    processes.start_worker()
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=api_key, max_retries=0)
    with training_path.open("rb") as handle:
        uploaded = client.files.create(file=handle, purpose="fine-tune")
    job = client.fine_tuning.jobs.create(
        model=model, training_file=uploaded.id, suffix="e2e", metadata={"case": "sdk"}
    )
    first_status: str = job.status
    assert first_status == "validating_files"

    def finished() -> bool:
        nonlocal job
        job = client.fine_tuning.jobs.retrieve(job.id)
        return job.status in ("succeeded", "failed", "cancelled")

    try:
        wait_for(finished, 60, f"{model} job to finish")
    except AssertionError:
        print(processes.logs())
        raise
    assert job.status == "succeeded", (job.error, processes.logs())
    assert job.fine_tuned_model
    extra = job.model_extra or {}
    provider = "together" if model.startswith("together/") else "openai"
    assert extra["provider"] == provider and extra["provider_job_id"]
    assert job.trained_tokens and job.trained_tokens > 0
    assert extra["cost"] is not None
    # Priced from what the provider reported (a together/… model too), never the estimate.
    assert extra["cost"]["basis"] in ("trained_tokens_x_price", "provider_reported"), extra

    events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
    messages = [e.message for e in events]
    assert any("successfully completed" in m for m in messages), messages
    assert messages[-1].startswith("Created fine-tuning job")

    # The step metrics CSV is a result file the SDK reads by id, as on OpenAI.
    [result_id] = job.result_files
    assert client.files.retrieve(result_id).purpose == "fine-tune-results"
    lines = client.files.content(result_id).text.splitlines()
    assert lines[0].startswith("step,train_loss") and len(lines) > 1, lines
    checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
    assert checkpoints and all(c.fine_tuning_job_id == job.id for c in checkpoints)
    assert checkpoints[0].step_number > checkpoints[-1].step_number
    listed = client.fine_tuning.jobs.list(metadata={"case": "sdk"}).data
    assert [j.id for j in listed] == [job.id]
    assert emulators[provider].job_count() == 1
