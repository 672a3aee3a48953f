from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from local_gpu import (
    LoraSettings,
    ModelNotFoundError,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    UnsupportedMethodError,
    run_training,
    supported_methods,
)
from local_gpu.checkpoint import list_checkpoints
from local_gpu.tiny import synthetic_conversations, write_jsonl


class CrashError(RuntimeError):
    pass


@pytest.fixture(scope="module")
def memorise_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("memorise") / "train.jsonl"
    return write_jsonl(path, synthetic_conversations(8, seed=11))


def _config(
    model_dir: Path, train_file: Path, output_dir: Path, **changes: object
) -> TrainingConfig:
    base = TrainingConfig(
        model_dir=model_dir,
        train_file=train_file,
        output_dir=output_dir,
        quantization="none",
        lora=LoraSettings(rank=8, alpha=16, dropout=0.1),
        learning_rate=1e-2,
        warmup_ratio=0.0,
        max_seq_len=256,
        rows_per_batch=1,
        progress_every=1,
        checkpoint_every=1000,
        torch_threads=2,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_loss_falls_and_the_adapter_changes_generations(
    tiny_model_dir: Path, memorise_file: Path, tmp_path: Path
) -> None:
    seen: list[ProgressMetrics] = []
    events: list[str] = []
    config = _config(
        tiny_model_dir, memorise_file, tmp_path, epochs=20, validation_file=memorise_file
    )
    result = run_training(
        config, TrainingCallbacks(on_progress=seen.append, on_event=events.append)
    )

    assert result.outcome == "succeeded"
    assert result.path_description == "lora fp32 on cpu"
    assert "training path: lora fp32 on cpu" in events
    assert "fused LoRA on 14 layers" in events  # 2 blocks x 7 projections, fp32 LoRA
    assert [m.step for m in seen] == list(range(1, result.total_steps + 1))
    first, last = seen[0], seen[-1]
    assert last.train_loss < 0.25 * first.train_loss
    assert last.epoch == pytest.approx(20.0)
    assert last.tokens_per_second > 0 and first.learning_rate == pytest.approx(1e-2)
    assert result.valid_loss is not None and result.valid_loss < 0.25 * first.train_loss
    assert result.adapter_dir is not None
    assert (result.adapter_dir / "adapter_model.safetensors") in result.result_files

    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(result.adapter_dir))
    prompt: Any = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Where does Ada live?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    base: Any = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    before = base.generate(**prompt, max_new_tokens=12, do_sample=False)
    tuned: Any = PeftModel.from_pretrained(base, str(result.adapter_dir))
    after = tuned.generate(**prompt, max_new_tokens=12, do_sample=False)
    assert not torch.equal(before, after)


def test_qlora_nf4_runs_on_cpu(tiny_model_dir: Path, memorise_file: Path, tmp_path: Path) -> None:
    config = _config(tiny_model_dir, memorise_file, tmp_path, quantization="nf4", epochs=2)
    result = run_training(config)
    assert result.path_description == "qlora-nf4 on cpu"
    assert result.steps_completed == result.total_steps > 0
    assert result.train_loss is not None and result.train_loss == result.train_loss  # not NaN
    assert result.adapter_dir is not None
    assert (result.adapter_dir / "adapter_model.safetensors").stat().st_size > 0


def test_cancel_stops_at_a_step_boundary_and_keeps_a_checkpoint(
    tiny_model_dir: Path, memorise_file: Path, tmp_path: Path
) -> None:
    steps: list[int] = []
    callbacks = TrainingCallbacks(
        on_progress=lambda m: steps.append(m.step), should_cancel=lambda: len(steps) >= 3
    )
    result = run_training(_config(tiny_model_dir, memorise_file, tmp_path, epochs=5), callbacks)
    assert result.outcome == "cancelled"
    assert result.steps_completed == 3 and steps == [1, 2, 3]
    assert result.adapter_dir is None
    assert result.last_checkpoint is not None and result.last_checkpoint.name == "step-00000003"
    assert (result.last_checkpoint / "adapter" / "adapter_model.safetensors").is_file()


def test_crash_and_resume_continues_the_same_loss_curve(
    tiny_model_dir: Path, memorise_file: Path, tmp_path: Path
) -> None:
    def losses_of(output_dir: Path, crash_at: int | None = None) -> dict[int, float]:
        losses: dict[int, float] = {}

        def record(metrics: ProgressMetrics) -> None:
            losses[metrics.step] = metrics.train_loss
            if metrics.step == crash_at:
                raise CrashError("worker died")

        config = _config(tiny_model_dir, memorise_file, output_dir, epochs=3, checkpoint_every=4)
        try:
            result = run_training(config, TrainingCallbacks(on_progress=record))
        except CrashError:
            return losses
        assert result.outcome == "succeeded"
        return losses

    uninterrupted = losses_of(tmp_path / "straight")
    crashed = losses_of(tmp_path / "crashy", crash_at=10)
    assert max(crashed) == 10
    assert [p.name for p in list_checkpoints(tmp_path / "crashy" / "checkpoints")][-1] == (
        "step-00000008"
    )
    resumed = losses_of(tmp_path / "crashy")
    assert min(resumed) == 9  # picks up after the step-8 checkpoint, not from scratch
    for step, loss in resumed.items():
        assert loss == pytest.approx(uninterrupted[step], rel=1e-4), step


def test_unsupported_method_and_missing_model_are_clear_errors(
    tiny_model_dir: Path, memorise_file: Path, tmp_path: Path
) -> None:
    assert supported_methods() == ("supervised", "dpo")
    with pytest.raises(UnsupportedMethodError, match="'ppo' is not supported"):
        run_training(_config(tiny_model_dir, memorise_file, tmp_path, method="ppo"))
    with pytest.raises(ModelNotFoundError, match="no Hugging Face model"):
        run_training(_config(tmp_path / "nothing", memorise_file, tmp_path))
