from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from local_gpu import (
    DatasetError,
    LoraSettings,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    run_training,
)
from local_gpu.data import IGNORE_INDEX, load_pairs
from local_gpu.dpo import (
    PairBatches,
    PreferenceObjective,
    disable_dropout,
    dpo_losses,
    shared_prompt_length,
)
from local_gpu.loading import load_for_training, load_tokenizer
from local_gpu.loss import sequence_logps, uses_segment_attention
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


def _separate_log_probs(model: Any, example: Any) -> float:
    """A reply's summed log-prob from the model's own forward on that sequence alone."""
    ids = torch.tensor([example.input_ids])
    with torch.no_grad():
        logits = model(input_ids=ids, use_cache=False).logits[0, :-1].float()
    labels = torch.tensor(example.labels[1:])
    keep = labels != IGNORE_INDEX
    token_logps = logits[keep].log_softmax(-1).gather(1, labels[keep].unsqueeze(1))
    return float(token_logps.sum())


def test_a_shared_prompt_forward_gives_each_reply_its_separate_log_probs_and_gradients(
    tiny_model_dir: Path, preference_files: tuple[Path, Path], tmp_path: Path
) -> None:
    loaded = load_for_training(_config(tiny_model_dir, preference_files, tmp_path))
    model = loaded.model
    assert uses_segment_attention(model)
    pairs = load_pairs(preference_files[0], loaded.tokenizer, 256).pairs
    with torch.no_grad():  # a trained-looking adapter, so policy and base differ
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05, generator=torch.Generator().manual_seed(len(name)))
    indices = [3, 0, 7, 5, 11]
    shared = PairBatches(pairs, 256, packing=True, share_prompt=True).collate(indices)
    apart = PairBatches(pairs, 256, packing=True, share_prompt=False).collate(indices)
    assert all(shared_prompt_length(pairs[i]) > 5 for i in indices)
    assert shared.real_tokens < apart.real_tokens
    assert any(mask is not None for row in shared.segment_masks for mask in row)

    grads = []
    for batch in (shared, apart):
        model.zero_grad(set_to_none=True)
        logps = sequence_logps(model, batch, 2 * len(indices), loaded.device, None)
        logps.sum().backward()  # type: ignore[no-untyped-call]
        grads.append([p.grad.clone() for p in model.parameters() if p.requires_grad])
        expected = [
            _separate_log_probs(model, sequence)
            for i in indices
            for sequence in (pairs[i].chosen, pairs[i].rejected)
        ]
        assert logps.tolist() == pytest.approx(expected, abs=1e-4)
    for with_shared, separate in zip(*grads, strict=True):
        torch.testing.assert_close(with_shared, separate, rtol=1e-4, atol=2e-5)


def test_dpo_losses_match_the_formula() -> None:
    policy = torch.tensor([-10.0, -12.0, -7.5, -7.0])
    reference = torch.tensor([-11.0, -11.5, -8.0, -6.0])
    losses, chosen, rejected = dpo_losses(policy, reference, beta=0.2)
    margin_0 = 0.2 * ((-10.0 + 11.0) - (-12.0 + 11.5))
    margin_1 = 0.2 * ((-7.5 + 8.0) - (-7.0 + 6.0))
    expected = [math.log1p(math.exp(-margin_0)), math.log1p(math.exp(-margin_1))]
    assert losses.tolist() == pytest.approx(expected, rel=1e-6)
    assert chosen.tolist() == pytest.approx([0.2, 0.1], rel=1e-6)
    assert rejected.tolist() == pytest.approx([-0.1, -0.2], rel=1e-6)


def test_reference_log_probs_take_one_forward_per_chunk_and_none_after_the_first_epoch(
    tiny_model_dir: Path,
    preference_files: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = _config(tiny_model_dir, preference_files, tmp_path, rows_per_batch=2)
    loaded = load_for_training(config)
    pairs = load_pairs(preference_files[0], loaded.tokenizer, 256)
    objective = PreferenceObjective(loaded, config, pairs, None, packing=True)
    reference_forwards = 0
    disable = loaded.model.disable_adapter

    def counted() -> Any:
        nonlocal reference_forwards
        reference_forwards += 1
        return disable()

    monkeypatch.setattr(loaded.model, "disable_adapter", counted)
    for step in range(objective.steps_per_epoch):  # 12 steps of 2 pairs
        objective.train_step(0, step)
    # 24 pairs, ~2,200 tokens, in chunks of up to 4 * 2 * 256 tokens: two forwards, not 12.
    assert pairs.tokens > 2 * 2 * 256
    assert reference_forwards == 2
    for step in range(objective.steps_per_epoch):
        objective.train_step(1, step)
    assert reference_forwards == 2


def test_dpo_turns_dropout_off() -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.Dropout(0.0))
    assert disable_dropout(model) == 1
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, nn.Dropout))
