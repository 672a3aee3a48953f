"""The emulator records the ``Authorization`` header each provider request and each job came
with, so tests can tell whose key reached the provider (a tenant's own, or the operator's)."""

from __future__ import annotations

from pathlib import Path

from emulators.testing import running_emulator
from providers.base import JobSpec, ProviderConfig
from providers.registry import get_adapter
from tests.providers.emulated_jobs import DATASET


def test_each_job_and_request_keeps_the_key_it_came_with(tmp_path: Path) -> None:
    dataset = tmp_path / "train.jsonl"
    dataset.write_bytes(DATASET)
    with running_emulator("together") as emulator:
        for key in ("tenant-key-1", "operator-key"):
            adapter = get_adapter(
                "together", ProviderConfig(api_key=key, base_url=emulator.sdk_base_url)
            )
            file_id = adapter.upload_dataset(dataset, "train.jsonl")
            adapter.create_job(
                JobSpec(
                    tag=f"tag-{key}",
                    model="meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
                    training_file=file_id,
                )
            )
        jobs = emulator.jobs()
        assert [job["authorization"] for job in jobs] == [
            "Bearer tenant-key-1",
            "Bearer operator-key",
        ]
        seen = {request["authorization"] for request in emulator.requests()}
        assert seen == {"Bearer tenant-key-1", "Bearer operator-key"}
        assert all(request["path"].startswith("/v1/") for request in emulator.requests())
        emulator.reset()
        assert emulator.requests() == []
