"""The emulators' answers parse with each official SDK's own response types."""

from __future__ import annotations

from pathlib import Path

import httpx
from fireworks.types import Dataset, SupervisedFineTuningJob
from mistralai.client.models import (
    CompletionFineTuningJobDetails,
    CreateFileResponse,
    ListFineTuningJobsResponse,
)
from openai.types import FileObject
from openai.types.fine_tuning import FineTuningJob, FineTuningJobEvent
from openai.types.fine_tuning.jobs import FineTuningJobCheckpoint
from together.types import FileResponse, FinetuneResponse
from together.types.fine_tuning_list_checkpoints_response import FineTuningListCheckpointsResponse
from together.types.fine_tuning_list_events_response import FineTuningListEventsResponse
from together.types.finetune_model_limits import FinetuneModelLimits

from emulators.testing import running_emulator
from providers.base import JobSpec
from providers.registry import get_adapter
from tests.providers.conftest import ACCOUNT, MODEL, config


def test_openai_shapes(dataset: Path) -> None:
    with running_emulator("openai", phase_seconds=0.02) as emu:
        adapter = get_adapter("openai", config(emu))
        file_id = adapter.upload_dataset(dataset, "train.jsonl")
        job = adapter.create_job(JobSpec(tag="t", model=MODEL["openai"], training_file=file_id))
        emu.advance(job.id)
        v1 = emu.sdk_base_url
        FileObject.model_validate(httpx.get(f"{v1}/files/{file_id}").json())
        FineTuningJob.model_validate(httpx.get(f"{v1}/fine_tuning/jobs/{job.id}").json())
        events = httpx.get(f"{v1}/fine_tuning/jobs/{job.id}/events?limit=100").json()["data"]
        assert events and all(FineTuningJobEvent.model_validate(e) for e in events)
        ckpts = httpx.get(f"{v1}/fine_tuning/jobs/{job.id}/checkpoints").json()["data"]
        assert ckpts and all(FineTuningJobCheckpoint.model_validate(c) for c in ckpts)


def test_together_shapes(dataset: Path) -> None:
    with running_emulator("together", phase_seconds=0.02) as emu:
        adapter = get_adapter("together", config(emu))
        file_id = adapter.upload_dataset(dataset, "train.jsonl")
        job = adapter.create_job(JobSpec(tag="t", model=MODEL["together"], training_file=file_id))
        emu.advance(job.id)
        base = emu.base_url
        FileResponse.model_validate(httpx.get(f"{base}/v1/files/{file_id}").json())
        detail = FinetuneResponse.model_validate(httpx.get(f"{base}/v1/fine-tunes/{job.id}").json())
        assert detail.status == "completed" and detail.events
        FineTuningListEventsResponse.model_validate(
            httpx.get(f"{base}/v1/fine-tunes/{job.id}/events").json()
        )
        ckpts = FineTuningListCheckpointsResponse.model_validate(
            httpx.get(f"{base}/v1/fine-tunes/{job.id}/checkpoints").json()
        )
        assert ckpts.data
        FinetuneModelLimits.model_validate(
            httpx.get(
                f"{base}/v1/fine-tunes/models/limits", params={"model_name": MODEL["together"]}
            ).json()
        )


def test_mistral_shapes(dataset: Path) -> None:
    with running_emulator("mistral", phase_seconds=0.02) as emu:
        base = emu.base_url
        upload = httpx.post(
            f"{base}/v1/files",
            files={"file": ("train.jsonl", dataset.read_bytes())},
            data={"purpose": "fine-tune"},
        )
        file_id = CreateFileResponse.model_validate(upload.json()).id
        adapter = get_adapter("mistral", config(emu))
        job = adapter.create_job(JobSpec(tag="t", model=MODEL["mistral"], training_file=file_id))
        emu.advance(job.id)
        detail = CompletionFineTuningJobDetails.model_validate(
            httpx.get(f"{base}/v1/fine_tuning/jobs/{job.id}").json()
        )
        assert detail.status == "SUCCESS" and detail.checkpoints and detail.events
        ListFineTuningJobsResponse.model_validate(httpx.get(f"{base}/v1/fine_tuning/jobs").json())


def test_fireworks_shapes(dataset: Path) -> None:
    with running_emulator("fireworks", phase_seconds=0.02) as emu:
        adapter = get_adapter("fireworks", config(emu))
        dataset_name = adapter.upload_dataset(dataset, "train.jsonl")
        job = adapter.create_job(
            JobSpec(tag="t", model=MODEL["fireworks"], training_file=dataset_name)
        )
        emu.advance(job.id)
        base = f"{emu.base_url}/v1/accounts/{ACCOUNT}"
        ds = Dataset.model_validate(
            httpx.get(f"{base}/datasets/{dataset_name.rsplit('/', 1)[-1]}").json()
        )
        assert ds.state == "READY"
        sft = SupervisedFineTuningJob.model_validate(
            httpx.get(f"{base}/supervisedFineTuningJobs/{job.id}").json()
        )
        assert sft.state == "JOB_STATE_COMPLETED" and sft.estimated_cost is not None
