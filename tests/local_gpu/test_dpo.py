from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from local_gpu import (
    DatasetError,
    LoraSettings,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    run_training,
)
from local_gpu.data import IGNORE_INDEX, load_pairs
from local_gpu.loading import load_tokenizer
from local_gpu.tiny import synthetic_conversations, synthetic_preferences, write_jsonl


class CrashError(RuntimeError):
    pass


@pytest.fixture(scope="module")
def preference_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("preferences")
    train = write_jsonl(folder / "train.jsonl", synthetic_preferences(24, seed=3))
    # Held out: other names, cities and questions drawn with another seed.
    valid = write_jsonl(folder / "valid.jsonl", synthetic_preferences(12, seed=99))
    return train, valid


def _config(
    model_dir: Path, files: tuple[Path, Path], output: Path, **changes: Any
) -> TrainingConfig:
    base = TrainingConfig(
        model_dir=model_dir,
        train_file=files[0],
        validation_file=files[1],
        output_dir=output,
        method="dpo",
        dpo_beta=0.1,
        quantization="none",
        lora=LoraSettings(rank=8, alpha=16, dropout=0.0),
        learning_rate=5e-3,
        warmup_ratio=0.0,
        max_seq_len=256,
        rows_per_batch=4,
        progress_every=1,
        checkpoint_every=1000,
        torch_threads=2,
    )
    return replace(base, **changes)


def _text(tokenizer: Any, ids: list[int], labels: list[int]) -> str:
    return str(
        tokenizer.decode([t for t, lab in zip(ids, labels, strict=True) if lab != IGNORE_INDEX])
    )


def test_loss_falls_only_on_the_preferred_and_rejected_replies(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    record = {
        "input": {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Where does Ada live?"},
                {"role": "assistant", "content": "Which Ada?"},
                {"role": "user", "content": "Lovelace."},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": "Ada lives in Paris."}],
        "non_preferred_output": [{"role": "assistant", "content": "No idea."}],
    }
    path = write_jsonl(tmp_path / "pairs.jsonl", [record])
    tokenizer = load_tokenizer(tiny_model_dir)
    pair = load_pairs(path, tokenizer, 512).pairs[0]
    assert (
        _text(tokenizer, pair.chosen.input_ids, pair.chosen.labels)
        == "Ada lives in Paris.<|end|>\n"
    )
    assert _text(tokenizer, pair.rejected.input_ids, pair.rejected.labels) == "No idea.<|end|>\n"
    # Both sequences carry the same prompt (the earlier assistant turn is context, no loss).
    prompt = len(pair.chosen.input_ids) - pair.chosen.supervised_tokens
    assert pair.chosen.input_ids[:prompt] == pair.rejected.input_ids[:prompt]
    assert "Which Ada?" in tokenizer.decode(pair.chosen.input_ids[:prompt])


def test_a_chat_file_in_a_dpo_job_names_the_line(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "chat.jsonl", synthetic_conversations(2, seed=1))
    with pytest.raises(DatasetError, match=r"line 1: a DPO job needs preference lines"):
        load_pairs(path, load_tokenizer(tiny_model_dir), 256)


def test_dpo_raises_the_held_out_reward_margin_and_accuracy(
    tiny_model_dir: Path, preference_files: tuple[Path, Path], tmp_path: Path
) -> None:
    seen: list[ProgressMetrics] = []
    events: list[str] = []
    result = run_training(
        _config(tiny_model_dir, preference_files, tmp_path, epochs=3, eval_every=6),
        TrainingCallbacks(on_progress=seen.append, on_event=events.append),
    )

    assert result.outcome == "succeeded"
    assert "24 preference pairs" in " ".join(events)
    first = seen[0].named_values()
    # The adapter starts at zero: policy == reference, so every pair scores log(2), margin 0.
    assert first["train_loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert first["rewards/margin"] == pytest.approx(0.0, abs=1e-4)
    assert first["rewards/accuracy"] == 0.0
    early = next(m.valid for m in seen if m.valid is not None)
    assert early is not None and early.rewards_chosen is not None
    final = seen[-1].named_values()
    assert {"rewards/chosen", "rewards/rejected", "valid_rewards/margin"} <= set(final)
    assert final["full_valid_rewards/accuracy"] >= 0.9
    assert final["full_valid_rewards/margin"] > 1.0
    assert final["full_valid_loss"] < 0.5 * math.log(2)
    assert final["full_valid_rewards/margin"] > early.named("valid_")["valid_rewards/margin"]
    assert result.full_valid is not None and result.valid_loss == result.full_valid.loss


def test_dpo_cancel_and_resume_continue_the_same_curve(
    tiny_model_dir: Path, preference_files: tuple[Path, Path], tmp_path: Path
) -> None:
    def losses_of(
        output: Path, crash_at: int | None = None, cancel_at: int | None = None
    ) -> dict[int, float]:
        losses: dict[int, float] = {}

        def record(metrics: ProgressMetrics) -> None:
            losses[metrics.step] = metrics.train_loss
            if metrics.step == crash_at:
                raise CrashError("worker died")

        config = _config(tiny_model_dir, preference_files, output, epochs=2, checkpoint_every=4)
        callbacks = TrainingCallbacks(
            on_progress=record,
            should_cancel=lambda: cancel_at is not None and len(losses) >= cancel_at,
        )
        try:
            result = run_training(config, callbacks)
        except CrashError:
            return losses
        assert result.outcome == ("cancelled" if cancel_at else "succeeded")
        return losses

    uninterrupted = losses_of(tmp_path / "straight")
    assert max(losses_of(tmp_path / "crashy", crash_at=6)) == 6
    resumed = losses_of(tmp_path / "crashy")
    assert min(resumed) == 5  # after the step-4 checkpoint, not from scratch
    for step, loss in resumed.items():
        assert loss == pytest.approx(uninterrupted[step], rel=1e-4), step
    cancelled = losses_of(tmp_path / "cancelled", cancel_at=3)
    assert sorted(cancelled) == [1, 2, 3]
    after_cancel = losses_of(tmp_path / "cancelled")
    assert min(after_cancel) == 4 and max(after_cancel) == max(uninterrupted)
