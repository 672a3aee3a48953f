"""Estimates: each provider's billing rule against the price catalog, and local GPU-hours."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from local_gpu.estimate import estimate_seconds
from service.billing.estimate import estimate_job_cost
from service.errors import InvalidRequest
from service.settings import Settings

SETTINGS = Settings(local_gpu_hourly_rate=3.0, local_cpu_hourly_rate=0.5, _env_file=None)


def report(examples: int, total: int, **tokens: Any) -> dict[str, Any]:
    return {
        "examples": examples,
        "tokens": {"total": total, "billable_per_epoch": total, "per_example": {"max": 100}}
        | tokens,
    }


def test_openai_auto_epochs_follow_openais_rule() -> None:
    # 20 examples × 3 epochs = 60 < 100 examples seen, so OpenAI picks 100 // 20 = 5 epochs.
    estimate = estimate_job_cost(
        report(20, 10_000), "openai", "gpt-4o-mini-2024-07-18", {}, None, SETTINGS
    )
    assert estimate.epochs == 5
    assert estimate.billed_tokens == 50_000
    assert estimate.amount == Decimal("0.150000")  # 50k tokens at $3.00 / 1M
    assert estimate.basis == "billed_tokens_x_price"
    assert estimate.price == Decimal("3.00")
    assert estimate.duration_s is not None and estimate.duration_s > 0


def test_openai_explicit_epochs_and_context_clipping() -> None:
    clipped = report(100, 900_000, billable_per_epoch=700_000, per_example={"max": 90_000})
    estimate = estimate_job_cost(
        clipped, "openai", "gpt-4.1-2025-04-14", {"n_epochs": 2}, None, SETTINGS
    )
    # An example is longer than the 65,536 context: the clipped per-epoch count is billed.
    assert estimate.billed_tokens == 1_400_000
    assert estimate.amount == Decimal("35.000000")  # $25.00 / 1M


def test_together_bills_evaluation_tokens() -> None:
    estimate = estimate_job_cost(
        report(50, 1_000_000),
        "together",
        "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
        {"n_epochs": 3, "n_evals": 4},
        {"examples": 5, "tokens": {"total": 25_000}},
        SETTINGS,
    )
    assert estimate.billed_tokens == 3 * 1_000_000 + 4 * 25_000
    assert estimate.amount == Decimal("1.488000")  # 3.1M tokens at $0.48 / 1M


def test_together_defaults_to_one_epoch_without_evals() -> None:
    estimate = estimate_job_cost(
        report(50, 1_000_000), "together", "Qwen/Qwen2.5-7B-Instruct", {}, None, SETTINGS
    )
    assert (estimate.epochs, estimate.billed_tokens) == (1, 1_000_000)


def test_fireworks_bills_dataset_tokens_times_epochs() -> None:
    estimate = estimate_job_cost(
        report(50, 2_000_000),
        "fireworks",
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
        {"n_epochs": 2},
        None,
        SETTINGS,
    )
    assert estimate.billed_tokens == 4_000_000
    assert estimate.amount == Decimal("12.000000")  # $3.00 / 1M


def test_local_is_estimated_hours_times_the_configured_rate() -> None:
    estimate = estimate_job_cost(
        report(10, 8_686_800), "local", "tiny-llama", {"n_epochs": 2}, None, SETTINGS
    )
    seconds = estimate_seconds(8_686_800, 2, "cuda")
    assert estimate.basis == "hours_x_hourly_rate"
    assert estimate.billed_tokens is None
    assert estimate.duration_s == pytest.approx(seconds)
    assert estimate.amount == (Decimal(str(seconds)) / 3600 * 3).quantize(Decimal("0.000001"))
    cpu = estimate_job_cost(
        report(10, 1000), "local", "tiny-llama", {"device": "cpu"}, None, SETTINGS
    )
    assert cpu.price == Decimal("0.5")


def test_unpriced_unknown_and_uncounted_have_no_amount() -> None:
    mistral = estimate_job_cost(report(20, 1000), "mistral", "open-mistral-7b", {}, None, SETTINGS)
    assert (mistral.amount, mistral.basis, mistral.billed_tokens) == (None, "no_price", 1000)
    unknown = estimate_job_cost(report(20, 1000), "openai", "gpt-9", {}, None, SETTINGS)
    assert (unknown.amount, unknown.basis) == (None, "unknown_model")
    uncounted = {"examples": 20, "tokens": {"total": 0, "counted": False}}
    none = estimate_job_cost(uncounted, "openai", "gpt-4o-2024-08-06", {}, None, SETTINGS)
    assert (none.amount, none.basis) == (None, "tokens_not_counted")


@pytest.mark.parametrize("bad", [0, -1, "three", True])
def test_bad_epochs_name_the_field(bad: object) -> None:
    with pytest.raises(InvalidRequest) as caught:
        estimate_job_cost(
            report(20, 1000), "openai", "gpt-4o-2024-08-06", {"n_epochs": bad}, None, SETTINGS
        )
    assert caught.value.param == "hyperparameters.n_epochs"
