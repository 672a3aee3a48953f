"""Early stopping on validation loss, validation metrics, and training on from a previous
run's adapter."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local_gpu import (
    LocalTrainingError,
    LoraSettings,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    run_training,
)
from local_gpu.tiny import synthetic_conversations, write_jsonl


@pytest.fixture(scope="module")
def memorise_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("continue") / "train.jsonl"
    return write_jsonl(path, synthetic_conversations(8, seed=11))


@pytest.fixture(scope="module")
def contradicting_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same questions with each other's answers: the better the training answers are
    learned, the worse this file scores."""
    records = synthetic_conversations(8, seed=11)
    answers = [[m["content"] for m in r["messages"] if m["role"] == "assistant"] for r in records]
    for index, record in enumerate(records):
        other = answers[(index + 1) % len(records)]
        replies = [m for m in record["messages"] if m["role"] == "assistant"]
        for message, answer in zip(replies, other * len(replies), strict=False):
            message["content"] = answer
    return write_jsonl(tmp_path_factory.mktemp("contradict") / "valid.jsonl", records)


def _config(model_dir: Path, train_file: Path, output: Path, **changes: Any) -> TrainingConfig:
    base = TrainingConfig(
        model_dir=model_dir,
        train_file=train_file,
        output_dir=output,
        quantization="none",
        lora=LoraSettings(rank=8, alpha=16, dropout=0.0),
        learning_rate=1e-2,
        warmup_ratio=0.0,
        max_seq_len=256,
        rows_per_batch=1,
        progress_every=1,
        checkpoint_every=1000,
        torch_threads=2,
    )
    return replace(base, **changes)


def test_early_stopping_stops_a_run_whose_validation_loss_rises_and_keeps_the_best(
    tiny_model_dir: Path, memorise_file: Path, contradicting_file: Path, tmp_path: Path
) -> None:
    seen: list[ProgressMetrics] = []
    events: list[str] = []
    config = _config(
        tiny_model_dir,
        memorise_file,
        tmp_path,
        validation_file=contradicting_file,
        epochs=20,
        early_stopping_patience=2,
        early_stopping_min_delta=0.0,
    )
    result = run_training(
        config, TrainingCallbacks(on_progress=seen.append, on_event=events.append)
    )

    assert result.outcome == "succeeded" and result.stopped_early
    assert result.steps_completed < result.total_steps
    assert any(e.startswith(f"early stopping at step {result.steps_completed} of ") for e in events)
    valid = {m.step: m.valid.loss for m in seen if m.valid is not None}
    best_step = min(valid, key=lambda step: valid[step])
    assert result.best_step == best_step < result.steps_completed
    # The two evaluations after the best did not improve on it, and the result is the best
    # adapter: scored again on the whole validation file, it gives the best loss.
    assert sorted(valid)[-2:] == [best_step + 1, best_step + 2]
    assert result.full_valid is not None
    assert result.full_valid.loss == pytest.approx(valid[best_step], rel=1e-5)
    assert result.adapter_dir is not None and not (tmp_path / "best-adapter").exists()
    last = seen[-1].named_values()
    assert {
        "train_loss",
        "train_mean_token_accuracy",
        "valid_loss",
        "valid_mean_token_accuracy",
        "full_valid_loss",
        "full_valid_mean_token_accuracy",
    } <= set(last)
    assert 0.0 <= last["full_valid_mean_token_accuracy"] <= 1.0


def test_training_on_from_an_adapter_continues_its_loss_curve(
    tiny_model_dir: Path, memorise_file: Path, tmp_path: Path
) -> None:
    def losses(config: TrainingConfig) -> tuple[list[float], Any]:
        seen: list[ProgressMetrics] = []
        result = run_training(config, TrainingCallbacks(on_progress=seen.append))
        return [m.train_loss for m in seen], result

    parent_losses, parent = losses(
        _config(tiny_model_dir, memorise_file, tmp_path / "parent", epochs=8, checkpoint_every=10)
    )
    assert parent_losses[-1] < 0.3 * parent_losses[0]
    fresh_losses, _ = losses(_config(tiny_model_dir, memorise_file, tmp_path / "fresh", epochs=1))
    for source in (parent.adapter_dir, parent.last_checkpoint / "adapter"):
        events: list[str] = []
        seen: list[ProgressMetrics] = []
        child = _config(
            tiny_model_dir,
            memorise_file,
            tmp_path / f"child-{source.parent.name}",
            epochs=1,
            learning_rate=1e-3,
            init_adapter=source,
            # The adapter's own rank (8) wins over the one asked for.
            lora=LoraSettings(rank=2, alpha=4),
        )
        run_training(child, TrainingCallbacks(on_progress=seen.append, on_event=events.append))
        assert any(e.startswith("training on from the adapter") for e in events)
        first = seen[0].train_loss
        # Starts where the parent ended, not where a fresh adapter starts.
        assert first < 0.3 * fresh_losses[0]
        assert first < 2 * max(parent_losses[-4:])


def test_a_folder_without_an_adapter_is_a_clear_error(
    tiny_model_dir: Path, memorise_file: Path, tmp_path: Path
) -> None:
    config = _config(tiny_model_dir, memorise_file, tmp_path, init_adapter=tmp_path)
    with pytest.raises(LocalTrainingError, match="no LoRA adapter"):
        run_training(config)
