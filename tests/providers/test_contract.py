"""One contract, every adapter: the official SDK against its loopback emulator."""

from __future__ import annotations

import time
import uuid

import pytest

from providers.base import JobSpec, JobStatus, ProviderAdapter, ProviderJob
from providers.errors import ProviderPermanentError, ProviderRetryableError
from tests.providers.conftest import CREATE_PATH, MODEL, READ_PATH, Harness


def spec_for(h: Harness, training_file: str, **overrides: object) -> JobSpec:
    fields: dict[str, object] = {
        "tag": f"job-{uuid.uuid4().hex}",
        "model": MODEL[h.provider],
        "training_file": training_file,
        "suffix": "demo",
    }
    fields.update(overrides)
    return JobSpec(**fields)  # type: ignore[arg-type]


def wait_until_terminal(
    adapter: ProviderAdapter, job_id: str, timeout: float = 10.0
) -> ProviderJob:
    deadline = time.monotonic() + timeout
    while True:
        job = adapter.get_job(job_id)
        if job.status.is_terminal or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_job_runs_to_success_with_events_checkpoints_and_tokens(harness: Harness) -> None:
    adapter = harness.adapter
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    created = adapter.create_job(spec_for(harness, file_id))
    assert created.status in (JobStatus.VALIDATING_FILES, JobStatus.QUEUED)
    assert created.provider_status

    job = wait_until_terminal(adapter, created.id)

    assert job.status is JobStatus.SUCCEEDED, job
    assert job.id == created.id
    assert job.fine_tuned_model
    assert job.trained_tokens and job.trained_tokens > 0
    assert job.error is None
    capabilities = adapter.capabilities()
    if capabilities.reports_cost:
        assert job.cost is not None and job.cost > 0
    events = adapter.list_events(job.id)
    assert events
    assert adapter.list_events(job.id, after=events[-1].id) == []
    if capabilities.supports_events:
        assert len(events) > 3
        assert adapter.list_events(job.id, after=events[1].id) == events[2:]
    checkpoints = adapter.list_checkpoints(job.id)
    if capabilities.supports_checkpoints:
        assert [c.step for c in checkpoints] == sorted(c.step for c in checkpoints)
        assert len(checkpoints) >= 2
        assert all("train_loss" in c.metrics for c in checkpoints)
        assert checkpoints[-1].metrics["train_loss"] < checkpoints[0].metrics["train_loss"]


def test_cancel_ends_cancelled(harness: Harness) -> None:
    adapter = harness.adapter
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    created = adapter.create_job(spec_for(harness, file_id))

    adapter.cancel_job(created.id)

    job = wait_until_terminal(adapter, created.id)
    assert job.status is JobStatus.CANCELLED
    assert job.fine_tuned_model is None


def test_failed_job_carries_the_provider_error(harness: Harness) -> None:
    adapter = harness.adapter
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    harness.emulator.inject(kind="fail_job", message="example 7 has no assistant message")

    job = wait_until_terminal(adapter, adapter.create_job(spec_for(harness, file_id)).id)

    assert job.status is JobStatus.FAILED
    assert job.error is not None
    assert "example 7 has no assistant message" in job.error.message


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttle_or_server_error_is_retryable_then_succeeds(harness: Harness, status: int) -> None:
    adapter = harness.adapter_with(max_retries=0)
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    job = adapter.create_job(spec_for(harness, file_id))
    harness.emulator.inject(
        kind="status",
        status=status,
        retry_after=0.25,
        method="GET",
        path=READ_PATH[harness.provider],
    )

    with pytest.raises(ProviderRetryableError) as caught:
        adapter.get_job(job.id)

    assert caught.value.status_code == status
    assert caught.value.retry_after == pytest.approx(0.25)
    assert adapter.get_job(job.id).id == job.id


def test_sdk_level_retries_ride_out_a_429_on_reads(harness: Harness) -> None:
    if harness.provider == "mistral":  # mistralai retries only when told to; we don't
        return
    file_id = harness.adapter.upload_dataset(harness.dataset, "train.jsonl")
    job = harness.adapter.create_job(spec_for(harness, file_id))
    harness.emulator.inject(
        kind="status", status=429, retry_after=0.05, method="GET", path=READ_PATH[harness.provider]
    )

    assert harness.adapter.get_job(job.id).id == job.id


def test_lost_create_response_is_not_retried_and_reconciles_by_tag(harness: Harness) -> None:
    adapter = harness.adapter  # SDK retries on: create must still send exactly one POST
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    spec = spec_for(harness, file_id)
    harness.emulator.inject(kind="drop_after", method="POST", path=CREATE_PATH[harness.provider])

    with pytest.raises(ProviderRetryableError):
        adapter.create_job(spec)

    assert harness.emulator.job_count() == 1
    found = adapter.find_job_by_tag(spec.tag)
    assert found is not None
    assert found.id == harness.emulator.jobs()[0]["id"]
    assert adapter.find_job_by_tag("some-other-tag") is None


def test_dropped_connection_and_hang_are_retryable(harness: Harness) -> None:
    adapter = harness.adapter_with(max_retries=0)
    file_id = adapter.upload_dataset(harness.dataset, "train.jsonl")
    job = adapter.create_job(spec_for(harness, file_id))
    harness.emulator.inject(kind="drop", method="GET", path=READ_PATH[harness.provider])
    with pytest.raises(ProviderRetryableError):
        adapter.get_job(job.id)
    harness.emulator.inject(
        kind="slow", seconds=0.2, method="GET", path=READ_PATH[harness.provider]
    )
    assert adapter.get_job(job.id).id == job.id


def test_unknown_job_and_bad_file_are_permanent(harness: Harness) -> None:
    adapter = harness.adapter
    with pytest.raises(ProviderPermanentError):
        adapter.get_job("does-not-exist")
    with pytest.raises(ProviderPermanentError) as caught:
        adapter.create_job(spec_for(harness, "file-missing"))
    assert caught.value.message
