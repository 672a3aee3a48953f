"""Vertex specifics: the emulator's wire against google-genai's own types, the OAuth exchange,
Cloud Storage uploads (multipart and resumable), what a bad dataset or bad settings become."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.auth.transport.requests import Request
from google.genai import types

from emulators.testing import EmulatorHandle, running_emulator
from providers.adapters.vertex_adapter import VertexAdapter
from providers.base import JobSpec, JobStatus
from providers.errors import ProviderPermanentError, ProviderRetryableError
from providers.registry import get_adapter
from tests.providers.conftest import LOCATION, MODEL, PROJECT, config, gemini_line
from tests.providers.test_contract import wait_until_terminal


@pytest.fixture
def emulator() -> Iterator[EmulatorHandle]:
    with running_emulator("vertex", phase_seconds=0.02) as emu:
        yield emu


@pytest.fixture
def gemini_dataset(tmp_path: Path) -> Path:
    path = tmp_path / "gemini.jsonl"
    path.write_text((gemini_line("Hi", "Hello!") + "\n") * 12)
    return path


def _token(emu: EmulatorHandle) -> str:
    adapter = get_adapter("vertex", config(emu))
    assert isinstance(adapter, VertexAdapter)
    credentials = adapter.client._api_client._credentials
    assert credentials is not None
    credentials.refresh(Request())  # type: ignore[no-untyped-call]
    return str(credentials.token)


def test_job_json_parses_strictly_with_the_sdks_own_types(
    emulator: EmulatorHandle, gemini_dataset: Path
) -> None:
    adapter = get_adapter("vertex", config(emulator))
    uri = adapter.upload_dataset(gemini_dataset, "train.jsonl")
    job = adapter.create_job(
        JobSpec(tag="fidelity", model=MODEL["vertex"], training_file=uri, validation_file=uri)
    )
    headers = {"Authorization": f"Bearer {_token(emulator)}"}
    url = f"{emulator.base_url}/v1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs"
    pending = httpx.get(f"{url}/{job.id}", headers=headers).json()
    types.TuningJob.model_validate(pending)  # extra="forbid": every field must be the SDK's
    emulator.advance(job.id)

    done = types.TuningJob.model_validate(httpx.get(f"{url}/{job.id}", headers=headers).json())
    listing = types.ListTuningJobsResponse.model_validate(httpx.get(url, headers=headers).json())

    assert done.state is types.JobState.JOB_STATE_SUCCEEDED
    assert done.tuned_model is not None and done.tuned_model.endpoint
    assert done.tuned_model.checkpoints and done.tuned_model.checkpoints[-1].step == 12
    stats = done.tuning_data_stats
    assert stats and stats.supervised_tuning_data_stats
    assert stats.supervised_tuning_data_stats.tuning_dataset_example_count == 12
    assert listing.tuning_jobs and listing.tuning_jobs[0].name == done.name
    checkpoints = adapter.list_checkpoints(job.id)
    assert all("valid_loss" in c.metrics for c in checkpoints)
    generated = httpx.post(
        f"{emulator.base_url}/v1/{done.tuned_model.endpoint}:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]},
        headers=headers,
    ).json()
    answer = types.GenerateContentResponse.model_validate(generated)
    assert answer.text == "Hello!"


def test_every_api_call_wants_a_token_from_the_exchange(emulator: EmulatorHandle) -> None:
    url = f"{emulator.base_url}/v1/projects/{PROJECT}/locations/{LOCATION}/tuningJobs"
    anonymous = httpx.get(url)
    forged = httpx.get(url, headers={"Authorization": "Bearer not-issued"})
    download = httpx.get(f"{emulator.base_url}/download/storage/v1/b/b/o/x?alt=media")
    bad_grant = httpx.post(
        f"{emulator.base_url}/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x"},
    )

    assert anonymous.status_code == forged.status_code == download.status_code == 401
    assert anonymous.json()["error"]["status"] == "UNAUTHENTICATED"
    assert bad_grant.status_code == 400 and bad_grant.json()["error"] == "invalid_grant"
    assert httpx.get(url, headers={"Authorization": f"Bearer {_token(emulator)}"}).is_success


def test_a_file_over_the_multipart_limit_goes_up_resumably_and_intact(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    big = tmp_path / "big.jsonl"
    line = gemini_line("x" * 1000, "y" * 1000) + "\n"
    big.write_text(line * (9 * 1024 * 1024 // len(line) + 1))  # > 8 MiB: resumable upload
    adapter = get_adapter("vertex", config(emulator))
    assert isinstance(adapter, VertexAdapter)

    uri = adapter.upload_dataset(big, "big.jsonl")

    bucket, _, name = uri.removeprefix("gs://").partition("/")
    assert adapter.storage.bucket(bucket).blob(name).download_as_bytes() == big.read_bytes()
    assert adapter.upload_dataset(big, "big.jsonl") == uri  # content-addressed


def test_a_dataset_gemini_cannot_take_fails_the_job_naming_the_line(
    emulator: EmulatorHandle, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(gemini_line("a", "b") + "\n" + json.dumps({"messages": []}) + "\n")
    adapter = get_adapter("vertex", config(emulator))
    uri = adapter.upload_dataset(bad, "bad.jsonl")

    job = wait_until_terminal(
        adapter, adapter.create_job(JobSpec(tag="bad", model=MODEL["vertex"], training_file=uri)).id
    )

    assert job.status is JobStatus.FAILED
    assert job.error is not None and job.error.param == "training_file"
    assert "line 2" in job.error.message


def test_cancel_after_the_end_reports_how_it_ended(
    emulator: EmulatorHandle, gemini_dataset: Path
) -> None:
    adapter = get_adapter("vertex", config(emulator))
    uri = adapter.upload_dataset(gemini_dataset, "train.jsonl")
    job = adapter.create_job(JobSpec(tag="late", model=MODEL["vertex"], training_file=uri))
    emulator.advance(job.id)

    assert adapter.cancel_job(job.id).status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("field", ["project", "location", "credentials_file", "bucket"])
def test_missing_settings_are_named(emulator: EmulatorHandle, field: str) -> None:
    changes: dict[str, Any] = {field: None}
    incomplete = dataclasses.replace(config(emulator), **changes)
    with pytest.raises(ProviderPermanentError) as caught:
        get_adapter("vertex", incomplete)
    assert caught.value.param == field
    assert field in caught.value.message


def test_an_unreadable_key_file_is_permanent(emulator: EmulatorHandle, tmp_path: Path) -> None:
    broken = tmp_path / "key.json"
    broken.write_text("{}")
    with pytest.raises(ProviderPermanentError) as caught:
        get_adapter("vertex", dataclasses.replace(config(emulator), credentials_file=str(broken)))
    assert caught.value.param == "credentials_file"


def test_options_reach_the_tuning_spec(emulator: EmulatorHandle, gemini_dataset: Path) -> None:
    adapter = get_adapter("vertex", config(emulator))
    uri = adapter.upload_dataset(gemini_dataset, "train.jsonl")
    spec = JobSpec(
        tag="opts",
        model=MODEL["vertex"],
        training_file=uri,
        options={"adapter_size": 8, "export_last_checkpoint_only": True},
    )
    adapter.create_job(spec)

    body = emulator.jobs()[0]["body"]
    assert body["supervisedTuningSpec"]["hyperParameters"]["adapterSize"] == "ADAPTER_SIZE_EIGHT"
    assert body["supervisedTuningSpec"]["exportLastCheckpointOnly"] is True
    assert body["labels"]["tuneforge-tag"].startswith("tf")
    with pytest.raises(ProviderPermanentError) as caught:
        adapter.create_job(dataclasses.replace(spec, options={"adapter_size": 3}))
    assert caught.value.param == "provider_options.adapter_size"


def test_a_5xx_on_create_is_not_retried_by_the_sdk(
    emulator: EmulatorHandle, gemini_dataset: Path
) -> None:
    adapter = get_adapter("vertex", config(emulator, max_retries=2))  # SDK retries on for reads
    uri = adapter.upload_dataset(gemini_dataset, "train.jsonl")
    emulator.inject(kind="status", status=503, method="POST", path="/tuningJobs$", count=1)
    before = emulator.request_count()

    with pytest.raises(ProviderRetryableError):
        adapter.create_job(JobSpec(tag="once", model=MODEL["vertex"], training_file=uri))

    assert emulator.request_count() - before == 1  # one POST: a retry could start a second job
    assert emulator.job_count() == 0
