"""Fixtures: each provider's emulator on loopback and its adapter on the official SDK."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.service_account import write_service_account_file
from emulators.testing import EmulatorHandle, running_emulator
from providers.base import ProviderAdapter, ProviderConfig
from providers.registry import get_adapter

PHASE_SECONDS = 0.05
ACCOUNT = "acct-test"
PROJECT = "proj-test"
LOCATION = "us-central1"
BUCKET = "tuneforge-test-bucket"
ADAPTERS = ["openai", "together", "mistral", "fireworks", "vertex"]

# Per provider: the create endpoint and the single-job read endpoint, as fault path regexes.
CREATE_PATH = {
    "openai": "/v1/fine_tuning/jobs$",
    "together": "/v1/fine-tunes$",
    "mistral": "/v1/fine_tuning/jobs$",
    "fireworks": "/supervisedFineTuningJobs$",
    "vertex": "/tuningJobs$",
}
READ_PATH = {
    "openai": "/v1/fine_tuning/jobs/[^/]+$",
    "together": "/v1/fine-tunes/ft-[^/]+$",
    "mistral": "/v1/fine_tuning/jobs/[^/]+$",
    "fireworks": "/supervisedFineTuningJobs/[^/:]+$",
    "vertex": "/tuningJobs/[^/:]+$",
}
MODEL = {
    "openai": "gpt-4o-mini-2024-07-18",
    "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "mistral": "open-mistral-7b",
    "fireworks": "accounts/fireworks/models/llama-v3p1-8b-instruct",
    "vertex": "gemini-2.5-flash",
}
_KEY_FILES: dict[str, Path] = {}


@dataclass
class Harness:
    provider: str
    emulator: EmulatorHandle
    adapter: ProviderAdapter
    dataset: Path

    def adapter_with(self, max_retries: int) -> ProviderAdapter:
        return get_adapter(self.provider, config(self.emulator, max_retries))


def key_file(emulator: EmulatorHandle) -> Path:
    """A service-account key file whose token URI is this emulator's (one per emulator)."""
    if emulator.base_url not in _KEY_FILES:
        folder = Path(tempfile.mkdtemp(prefix="tf-sa-"))
        _KEY_FILES[emulator.base_url] = write_service_account_file(
            folder / "key.json", f"{emulator.base_url}/token", PROJECT
        )
    return _KEY_FILES[emulator.base_url]


def config(emulator: EmulatorHandle, max_retries: int = 2) -> ProviderConfig:
    google = emulator.provider == "vertex"
    return ProviderConfig(
        api_key="test-key",
        base_url=emulator.sdk_base_url,
        account_id=ACCOUNT,
        timeout=5.0,
        max_retries=max_retries,
        project=PROJECT if google else None,
        location=LOCATION if google else None,
        credentials_file=str(key_file(emulator)) if google else None,
        bucket=BUCKET if google else None,
        storage_base_url=emulator.base_url if google else None,
    )


def gemini_line(user: str, model: str) -> str:
    return json.dumps(
        {
            "contents": [
                {"role": "user", "parts": [{"text": user}]},
                {"role": "model", "parts": [{"text": model}]},
            ]
        }
    )


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    line = (
        '{"messages": [{"role": "user", "content": "Hi"}, '
        '{"role": "assistant", "content": "Hello!"}]}\n'
    )
    path = tmp_path / "train.jsonl"
    path.write_text(line * 12)
    return path


@pytest.fixture(params=ADAPTERS)
def harness(request: pytest.FixtureRequest, dataset: Path) -> Iterator[Harness]:
    provider: str = request.param
    if provider == "vertex":  # adapters upload files already in their provider's format
        dataset = dataset.with_name("train-gemini.jsonl")
        dataset.write_text((gemini_line("Hi", "Hello!") + "\n") * 12)
    with running_emulator(provider, phase_seconds=PHASE_SECONDS) as emulator:
        yield Harness(provider, emulator, get_adapter(provider, config(emulator)), dataset)
