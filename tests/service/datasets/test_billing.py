"""Billed training tokens per provider and their cost."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from service.datasets.billing import (
    fireworks_billed_tokens,
    openai_auto_epochs,
    openai_billed_tokens,
    together_billed_tokens,
    training_cost,
)
from service.datasets.validate import ValidationOptions, validate_file
from tests.service.datasets.helpers import write_jsonl


def test_openai_auto_epochs_follow_the_cookbook() -> None:
    assert openai_auto_epochs(5) == 20
    assert openai_auto_epochs(10) == 10
    assert openai_auto_epochs(40) == 3
    assert openai_auto_epochs(10_000) == 2
    assert openai_auto_epochs(1) == 25
    assert openai_auto_epochs(100_000) == 1


def test_openai_clips_each_example_to_the_context() -> None:
    assert openai_billed_tokens([10, 500, 30], context_length=100, epochs=2) == 280
    assert openai_billed_tokens([10] * 40, context_length=100) == 1200  # auto → 3 epochs


def test_together_and_fireworks() -> None:
    assert together_billed_tokens(1000, epochs=3, n_evals=2, validation_tokens=50) == 3100
    assert fireworks_billed_tokens(1000, epochs=4) == 4000


def test_report_carries_billed_tokens(tmp_path: Path) -> None:
    rows = [{"prompt": f"question {i}", "completion": "answer"} for i in range(20)]
    path = write_jsonl(tmp_path / "f.jsonl", rows)
    openai = validate_file(path).to_dict()
    assert openai["epochs"] == 5
    assert openai["billed_tokens"] == openai["tokens"]["total"] * 5
    together = validate_file(
        path, provider="together", options=ValidationOptions(epochs=2)
    ).to_dict()
    assert together["billed_tokens"] == together["tokens"]["total"] * 2
    assert validate_file(path, provider="local").to_dict()["billed_tokens"] is None


def test_training_cost_is_exact_decimal() -> None:
    assert training_cost(1_234_567, Decimal("25")) == Decimal("30.864175")
    assert training_cost(3, "0.5") == Decimal("0.000002")
