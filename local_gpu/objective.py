"""What one optimizer step trains on and how a validation set is scored, per method.

The loop (loop.py) owns the schedule, progress, checkpoints, early stopping and cancel; an
objective owns the data, the forward/backward of one step and the evaluation. Supervised
training lives here; DPO in dpo.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from local_gpu.config import Evaluation, TrainingConfig
from local_gpu.data import LoadedDataset
from local_gpu.loading import TrainingModel
from local_gpu.loss import evaluate_tokens, token_stats
from local_gpu.packing import PackedBatch, StepPlan, collate_rows, pack_rows


@dataclass
class StepStats:
    """Sums over one step or a window of steps; `weight` is supervised tokens (SFT) or pairs
    (DPO), the denominator of every mean."""

    loss_sum: float = 0.0
    weight: int = 0
    correct: int = 0
    tokens: int = 0
    chosen_sum: float = 0.0
    rejected_sum: float = 0.0
    preference: bool = False

    def add(self, other: StepStats) -> None:
        self.loss_sum += other.loss_sum
        self.weight += other.weight
        self.correct += other.correct
        self.tokens += other.tokens
        self.chosen_sum += other.chosen_sum
        self.rejected_sum += other.rejected_sum
        self.preference = self.preference or other.preference

    def evaluation(self) -> Evaluation:
        weight = max(self.weight, 1)
        if not self.preference:
            return Evaluation(self.loss_sum / weight, self.correct / weight)
        return Evaluation(
            self.loss_sum / weight,
            self.correct / weight,
            rewards_chosen=self.chosen_sum / weight,
            rewards_rejected=self.rejected_sum / weight,
        )


class Objective(Protocol):
    @property
    def steps_per_epoch(self) -> int: ...

    def summary(self) -> str:
        """One line for the job's events: what was read."""
        ...

    def train_step(self, epoch: int, index: int) -> StepStats:
        """Forward and backward of step `index` of `epoch` (gradients accumulated, no
        optimizer step)."""
        ...

    def evaluate(self) -> Evaluation | None:
        """Score the validation set in eval mode; None when there is none."""
        ...


def describe_dataset(examples: int, tokens: int, truncated: int, dropped: int, cap: int) -> str:
    return (
        f"{examples} examples, {tokens} tokens"
        + (f", {truncated} truncated to {cap}" if truncated else "")
        + (f", {dropped} dropped (nothing to learn after truncation)" if dropped else "")
    )


class SupervisedObjective:
    def __init__(
        self,
        loaded: TrainingModel,
        config: TrainingConfig,
        train: LoadedDataset,
        valid: LoadedDataset | None,
        packing: bool,
    ) -> None:
        self.loaded = loaded
        self.config = config
        self.train = train
        rows = pack_rows([len(e.input_ids) for e in train.examples], config.max_seq_len, packing)
        self.plan = StepPlan(
            rows, config.rows_per_batch, config.gradient_accumulation_steps, config.seed
        )
        self.valid_batches: list[PackedBatch] = []
        if valid is not None:
            valid_rows = pack_rows(
                [len(e.input_ids) for e in valid.examples], config.max_seq_len, packing
            )
            self.valid_batches = [
                collate_rows(valid_rows[i : i + config.rows_per_batch], valid.examples)
                for i in range(0, len(valid_rows), config.rows_per_batch)
            ]

    @property
    def steps_per_epoch(self) -> int:
        return self.plan.steps_per_epoch

    def summary(self) -> str:
        data = self.train
        return describe_dataset(
            len(data.examples),
            data.tokens,
            data.truncated,
            data.dropped_without_loss,
            self.config.max_seq_len,
        )

    def train_step(self, epoch: int, index: int) -> StepStats:
        loaded = self.loaded
        batches = [
            collate_rows(micro, self.train.examples) for micro in self.plan.step(epoch, index)
        ]
        stats = StepStats(weight=sum(b.supervised_tokens for b in batches))
        for batch in batches:
            found = token_stats(loaded.model, batch, loaded.device, loaded.autocast_dtype)
            (found.loss_sum / stats.weight).backward()  # type: ignore[no-untyped-call]
            stats.loss_sum += found.loss_sum.item()
            stats.correct += found.correct
            stats.tokens += batch.real_tokens
        return stats

    def evaluate(self) -> Evaluation | None:
        if not self.valid_batches:
            return None
        loaded = self.loaded
        loss, accuracy = evaluate_tokens(
            loaded.model, self.valid_batches, loaded.device, loaded.autocast_dtype
        )
        return Evaluation(loss, accuracy)
