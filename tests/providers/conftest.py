"""Fixtures: each provider's emulator on loopback and its adapter on the official SDK."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from emulators.testing import EmulatorHandle, running_emulator
from providers.base import ProviderAdapter, ProviderConfig
from providers.registry import get_adapter

PHASE_SECONDS = 0.05
ACCOUNT = "acct-test"

# Per provider: the create endpoint and the single-job read endpoint, as fault path regexes.
CREATE_PATH = {
    "openai": "/v1/fine_tuning/jobs$",
    "together": "/v1/fine-tunes$",
    "mistral": "/v1/fine_tuning/jobs$",
    "fireworks": "/supervisedFineTuningJobs$",
}
READ_PATH = {
    "openai": "/v1/fine_tuning/jobs/[^/]+$",
    "together": "/v1/fine-tunes/ft-[^/]+$",
    "mistral": "/v1/fine_tuning/jobs/[^/]+$",
    "fireworks": "/supervisedFineTuningJobs/[^/:]+$",
}
MODEL = {
    "openai": "gpt-4o-mini-2024-07-18",
    "together": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
    "mistral": "open-mistral-7b",
    "fireworks": "accounts/fireworks/models/llama-v3p1-8b-instruct",
}


@dataclass
class Harness:
    provider: str
    emulator: EmulatorHandle
    adapter: ProviderAdapter
    dataset: Path

    def adapter_with(self, max_retries: int) -> ProviderAdapter:
        return get_adapter(self.provider, config(self.emulator, max_retries))


def config(emulator: EmulatorHandle, max_retries: int = 2) -> ProviderConfig:
    return ProviderConfig(
        api_key="test-key",
        base_url=emulator.sdk_base_url,
        account_id=ACCOUNT,
        timeout=5.0,
        max_retries=max_retries,
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


@pytest.fixture(params=["openai", "together", "mistral", "fireworks"])
def harness(request: pytest.FixtureRequest, dataset: Path) -> Iterator[Harness]:
    provider: str = request.param
    with running_emulator(provider, phase_seconds=PHASE_SECONDS) as emulator:
        yield Harness(provider, emulator, get_adapter(provider, config(emulator)), dataset)
