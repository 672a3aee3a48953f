"""What only one provider does: Mistral's retirement, Together's dedupe and price estimate."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from together import Together

from emulators.testing import running_emulator
from providers.base import Hyperparameters, JobSpec, ProviderConfig
from providers.errors import ProviderPermanentError, ProviderRetiredError
from providers.registry import get_adapter
from tests.providers.conftest import MODEL, config


def test_mistral_retired_api_raises_retired_error_naming_alternatives(dataset: Path) -> None:
    with running_emulator("mistral", retired=True) as emulator:
        adapter = get_adapter("mistral", config(emulator))
        file_id = adapter.upload_dataset(dataset, "train.jsonl")  # files still work
        with pytest.raises(ProviderRetiredError) as caught:
            adapter.create_job(JobSpec(tag="t1", model=MODEL["mistral"], training_file=file_id))
    assert caught.value.status_code == 410
    assert "together" in caught.value.alternatives
    assert "together" in str(caught.value)


def test_together_duplicate_upload_answers_409_and_reuses_the_file(dataset: Path) -> None:
    with running_emulator("together") as emulator:
        adapter = get_adapter("together", config(emulator))
        first = adapter.upload_dataset(dataset, "train.jsonl")
        second = adapter.upload_dataset(dataset, "train.jsonl")
        client = Together(api_key="k", base_url=emulator.sdk_base_url, max_retries=0)
        with pytest.raises(Exception, match=r"already exists|file_id"):
            client.files.upload(file=dataset, purpose="fine-tune", raise_if_already_exists=True)
    assert first == second


def test_together_continues_only_a_job_of_the_same_account(dataset: Path) -> None:
    with running_emulator("together") as emulator:
        mine = get_adapter("together", config(emulator))
        other = get_adapter("together", replace(config(emulator), api_key="someone-else"))
        file_id = mine.upload_dataset(dataset, "train.jsonl")
        parent = mine.create_job(JobSpec(tag="p", model=MODEL["together"], training_file=file_id))
        child = mine.create_job(
            JobSpec(
                tag="c",
                model=MODEL["together"],
                training_file=file_id,
                from_checkpoint=f"{parent.id}:2",
            )
        )
        with pytest.raises(ProviderPermanentError, match="not found"):
            other.create_job(
                JobSpec(
                    tag="x",
                    model=MODEL["together"],
                    training_file=other.upload_dataset(dataset, "train.jsonl"),
                    from_checkpoint=parent.id,
                )
            )
        received = {j["id"]: j["body"] for j in emulator.jobs()}
    assert received[child.id]["from_checkpoint"] == f"{parent.id}:2"
    assert "model" not in received[child.id]
    assert child.model == MODEL["together"]  # the parent's base, as Together reports it
    assert len(received) == 2


def test_together_estimate_cost_uses_estimate_price(dataset: Path) -> None:
    with running_emulator("together") as emulator:
        adapter = get_adapter("together", config(emulator))
        file_id = adapter.upload_dataset(dataset, "train.jsonl")
        one = adapter.estimate_cost(
            JobSpec(tag="a", model=MODEL["together"], training_file=file_id)
        )
        three = adapter.estimate_cost(
            JobSpec(
                tag="b",
                model=MODEL["together"],
                training_file=file_id,
                hyperparameters=Hyperparameters(n_epochs=3),
            )
        )
    assert one is not None and one > Decimal(0)
    assert three == pytest.approx(one * 3)


def test_other_adapters_have_no_estimate(dataset: Path) -> None:
    with running_emulator("openai") as emulator:
        adapter = get_adapter("openai", config(emulator))
        assert adapter.estimate_cost(JobSpec(tag="a", model="m", training_file="f")) is None


def test_unknown_provider_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown provider"):
        get_adapter("acme", ProviderConfig(api_key="k"))
