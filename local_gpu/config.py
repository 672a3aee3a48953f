"""Plain dataclasses that describe one local training run and what it reports back.

The caller (the gpu worker) builds these from its own settings and job row; nothing here reads
the environment or knows about the database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Method = Literal["supervised", "dpo"]
Quantization = Literal["nf4", "none"]
Precision = Literal["auto", "fp32", "bf16"]

ALL_LINEAR = "all-linear"


@dataclass(frozen=True)
class LoraSettings:
    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # "all-linear" = every linear projection of the transformer blocks (not the LM head).
    target_modules: tuple[str, ...] | str = ALL_LINEAR


@dataclass(frozen=True)
class TrainingConfig:
    model_dir: Path
    train_file: Path
    output_dir: Path
    validation_file: Path | None = None
    method: Method = "supervised"
    # DPO: how far the trained policy may drift from the reference (the base, adapter off).
    dpo_beta: float = 0.1
    # Start from this adapter (a previous run's adapter or checkpoint folder) instead of a
    # fresh LoRA init; its rank and targets win over `lora`.
    init_adapter: Path | None = None
    # "auto" = cuda when available, else cpu.
    device: str = "auto"
    # "nf4" = QLoRA (4-bit NF4 base + double quant); "none" = plain LoRA on an unquantized base.
    quantization: Quantization = "nf4"
    # "auto" = bf16 compute on CUDA, fp32 on CPU.
    precision: Precision = "auto"
    # None = on for CUDA, off for CPU (where it costs ~18% and memory is rarely the limit).
    gradient_checkpointing: bool | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    epochs: int = 1
    learning_rate: float = 2e-4
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # A packed row holds whole examples up to this many tokens; longer examples are truncated.
    max_seq_len: int = 1024
    rows_per_batch: int = 4
    gradient_accumulation_steps: int = 1
    seed: int = 42
    progress_every: int = 10
    checkpoint_every: int = 100
    # Evaluate on the validation file every this many steps (None: at progress reports when
    # early stopping is on, else only at the end).
    eval_every: int | None = None
    # Stop once validation loss has not improved by more than min_delta for this many
    # evaluations in a row; the best evaluated adapter is the result.
    early_stopping_patience: int | None = None
    early_stopping_min_delta: float = 0.0
    keep_checkpoints: int = 2
    resume: bool = True
    merge_adapter: bool = False
    torch_threads: int | None = None


@dataclass(frozen=True)
class Evaluation:
    """Loss and accuracy over a window of steps or a validation set. Supervised: accuracy is
    the mean token accuracy. DPO: loss is the DPO loss, accuracy the share of pairs whose
    chosen reward beats the rejected one, and the mean implicit rewards are set."""

    loss: float
    accuracy: float
    rewards_chosen: float | None = None
    rewards_rejected: float | None = None

    def named(self, prefix: str) -> dict[str, float]:
        """OpenAI-style names: train_loss, valid_mean_token_accuracy, full_valid_loss, ...;
        for DPO also rewards/chosen, rewards/rejected, rewards/accuracy, rewards/margin
        (prefixed valid_ / full_valid_ off the training set)."""
        values = {f"{prefix}loss": self.loss}
        if self.rewards_chosen is None or self.rewards_rejected is None:
            values[f"{prefix}mean_token_accuracy"] = self.accuracy
            return values
        rewards = "" if prefix == "train_" else prefix
        values[f"{rewards}rewards/chosen"] = self.rewards_chosen
        values[f"{rewards}rewards/rejected"] = self.rewards_rejected
        values[f"{rewards}rewards/accuracy"] = self.accuracy
        values[f"{rewards}rewards/margin"] = self.rewards_chosen - self.rewards_rejected
        return values


@dataclass(frozen=True)
class ProgressMetrics:
    step: int
    total_steps: int
    epoch: float
    train_loss: float
    learning_rate: float
    tokens_per_second: float
    # Real (non-padding) tokens seen so far, in this process and before a resume.
    tokens_seen: int
    elapsed_seconds: float
    valid_loss: float | None = None
    train: Evaluation | None = None
    valid: Evaluation | None = None
    # On the last report only: the whole validation file on the result adapter.
    full_valid: Evaluation | None = None

    def named_values(self) -> dict[str, float]:
        values = {
            "train_loss": self.train_loss,
            "learning_rate": self.learning_rate,
            "tokens_per_second": self.tokens_per_second,
            "epoch": self.epoch,
            "tokens_seen": float(self.tokens_seen),
        }
        for prefix, evaluation in (
            ("train_", self.train),
            ("valid_", self.valid),
            ("full_valid_", self.full_valid),
        ):
            if evaluation is not None:
                values.update(evaluation.named(prefix))
        if self.valid_loss is not None:
            values["valid_loss"] = self.valid_loss
        return values


@dataclass(frozen=True)
class CheckpointInfo:
    step: int
    path: Path
    train_loss: float


def _never() -> bool:
    return False


def _ignore(_: object) -> None:
    return None


@dataclass(frozen=True)
class TrainingCallbacks:
    on_progress: Callable[[ProgressMetrics], None] = _ignore
    on_checkpoint: Callable[[CheckpointInfo], None] = _ignore
    should_cancel: Callable[[], bool] = _never
    on_event: Callable[[str], None] = _ignore


Outcome = Literal["succeeded", "cancelled"]


@dataclass(frozen=True)
class TrainingResult:
    outcome: Outcome
    # e.g. "qlora-nf4 on cuda", "qlora-nf4 on cpu", "lora fp32 on cpu"
    path_description: str
    steps_completed: int
    total_steps: int
    train_loss: float | None
    valid_loss: float | None
    tokens_trained: int
    seconds: float
    adapter_dir: Path | None
    merged_dir: Path | None
    last_checkpoint: Path | None
    resumed_from_step: int | None
    result_files: list[Path]
    # Early stopping ended the run before total_steps; best_step is the adapter kept.
    stopped_early: bool = False
    best_step: int | None = None
    full_valid: Evaluation | None = None
