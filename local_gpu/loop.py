"""The training loop: schedule, progress, validation, early stopping, checkpoints, cancel and
resume. What a step trains on is the objective's business (objective.py, dpo.py)."""

from __future__ import annotations

import math
import random
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from local_gpu.architecture import packing_blocker
from local_gpu.checkpoint import ResumeState, latest_checkpoint, load_checkpoint, save_checkpoint
from local_gpu.config import (
    CheckpointInfo,
    Evaluation,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    TrainingResult,
)
from local_gpu.data import load_examples, load_pairs
from local_gpu.dpo import PreferenceObjective
from local_gpu.errors import LocalTrainingError, UnsupportedMethodError
from local_gpu.export import list_files, load_adapter_weights, merge_adapter, save_adapter
from local_gpu.loading import TrainingModel, build_optimizer, load_for_training
from local_gpu.objective import Objective, StepStats, SupervisedObjective

SUPPORTED_METHODS = ("supervised", "dpo")  # keep in step with supported_methods()
BEST_ADAPTER = "best-adapter"


def linear_schedule(total_steps: int, warmup_ratio: float) -> tuple[int, object]:
    warmup = min(math.ceil(total_steps * warmup_ratio), max(total_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total_steps - step) / max(total_steps - warmup, 1))

    return warmup, factor


def _seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _check_config(config: TrainingConfig) -> None:
    if config.method not in SUPPORTED_METHODS:
        raise UnsupportedMethodError(
            f"method {config.method!r} is not supported by the local trainer "
            f"(supported: {', '.join(SUPPORTED_METHODS)})"
        )
    for name in ("epochs", "max_seq_len", "rows_per_batch", "gradient_accumulation_steps"):
        if getattr(config, name) < 1:
            raise LocalTrainingError(f"{name} must be at least 1")
    if not config.train_file.is_file():
        raise LocalTrainingError(f"training file {config.train_file} does not exist")
    if config.early_stopping_patience is not None:
        if config.early_stopping_patience < 1:
            raise LocalTrainingError("early_stopping_patience must be at least 1")
        if config.validation_file is None:
            raise LocalTrainingError("early stopping needs a validation file")
    if not config.dpo_beta > 0:
        raise LocalTrainingError("dpo_beta must be positive")


def build_objective(config: TrainingConfig, loaded: TrainingModel, packing: bool) -> Objective:
    tokenizer, cap = loaded.tokenizer, config.max_seq_len
    if config.method == "dpo":
        return PreferenceObjective(
            loaded,
            config,
            load_pairs(config.train_file, tokenizer, cap),
            load_pairs(config.validation_file, tokenizer, cap) if config.validation_file else None,
            packing,
        )
    return SupervisedObjective(
        loaded,
        config,
        load_examples(config.train_file, tokenizer, cap),
        load_examples(config.validation_file, tokenizer, cap) if config.validation_file else None,
        packing,
    )


def train(config: TrainingConfig, callbacks: TrainingCallbacks) -> TrainingResult:
    _check_config(config)
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    _seed_everything(config.seed)
    loaded = load_for_training(config)
    callbacks.on_event(f"training path: {loaded.description}")
    callbacks.on_event(
        f"fused LoRA on {loaded.fused_layers} layers"
        if loaded.fused_layers
        else "fused LoRA off (it runs only for plain LoRA in fp32): peft's LoRA forward"
    )
    if config.init_adapter is not None:
        callbacks.on_event(f"training on from the adapter in {config.init_adapter.name}")
    blocker = packing_blocker(loaded.model.get_base_model().config)
    if blocker is not None:
        callbacks.on_event(f"packing off, one example per row: {blocker}")
    objective = build_objective(config, loaded, packing=blocker is None)
    callbacks.on_event(objective.summary())
    total_steps = objective.steps_per_epoch * config.epochs
    optimizer = build_optimizer(loaded, config)
    _, factor = linear_schedule(total_steps, config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)  # type: ignore[arg-type]
    return _Run(config, callbacks, loaded, objective, total_steps, optimizer, scheduler).run()


@dataclass
class _Window:
    """What happened since the last progress report."""

    started: float
    stats: StepStats


class _Run:
    def __init__(
        self,
        config: TrainingConfig,
        callbacks: TrainingCallbacks,
        loaded: TrainingModel,
        objective: Objective,
        total_steps: int,
        optimizer: torch.optim.Optimizer,
        scheduler: torch.optim.lr_scheduler.LambdaLR,
    ) -> None:
        self.config, self.callbacks, self.loaded = config, callbacks, loaded
        self.objective, self.total_steps = objective, total_steps
        self.optimizer, self.scheduler = optimizer, scheduler
        self.state = ResumeState(step=0, tokens_seen=0, elapsed_seconds=0.0, last_loss=math.nan)
        self.began = time.perf_counter()
        self.learning_rate = config.learning_rate
        patience = config.early_stopping_patience
        self.eval_every = config.eval_every or (config.progress_every if patience else None)

    def _elapsed(self) -> float:
        return time.perf_counter() - self.began

    def run(self) -> TrainingResult:
        config, callbacks, model = self.config, self.callbacks, self.loaded.model
        last_saved = latest_checkpoint(config.output_dir / "checkpoints") if config.resume else None
        resumed_from: int | None = None
        if last_saved is not None:
            self.state = load_checkpoint(last_saved, model, self.optimizer, self.scheduler)
            resumed_from = self.state.step
            callbacks.on_event(f"resumed from checkpoint at step {self.state.step}")
        model.train()
        self.began = time.perf_counter() - self.state.elapsed_seconds
        window = _Window(time.perf_counter(), StepStats())
        valid: Evaluation | None = None
        stopped_early = cancelled = False
        steps_per_epoch = self.objective.steps_per_epoch
        while self.state.step < self.total_steps:
            if callbacks.should_cancel():
                cancelled = True
                break
            stats = self._step(*divmod(self.state.step, steps_per_epoch))
            window.stats.add(stats)
            step = self.state.step
            finished = step == self.total_steps
            valid = None
            if self.eval_every and (step % self.eval_every == 0 or finished):
                valid = self.objective.evaluate()
                stopped_early = valid is not None and self._early_stop(valid)
            if step % config.progress_every == 0 and not finished and not stopped_early:
                self._report(window, valid, None)
                window = _Window(time.perf_counter(), StepStats())
            if step % config.checkpoint_every == 0 and not finished and not stopped_early:
                last_saved = self._checkpoint()
            if stopped_early:
                break
        if cancelled:
            step = self.state.step
            if step and (last_saved is None or not last_saved.name.endswith(f"{step:08d}")):
                last_saved = self._checkpoint()
            callbacks.on_event(f"cancelled at step {step} of {self.total_steps}")
            return self._result("cancelled", None, None, last_saved, resumed_from, None)
        best_step = self._restore_best()
        full_valid = self.objective.evaluate()
        if window.stats.weight:
            self._report(window, valid, full_valid)
        adapter = save_adapter(model, self.loaded.tokenizer, config.output_dir / "adapter")
        callbacks.on_event(f"adapter saved to {adapter}")
        merged = None
        if config.merge_adapter:
            merged = merge_adapter(
                config.model_dir, adapter, self.loaded.tokenizer, config.output_dir / "merged"
            )
            callbacks.on_event(f"merged model saved to {merged}")
        result = self._result("succeeded", adapter, merged, last_saved, resumed_from, full_valid)
        return replace(result, stopped_early=stopped_early, best_step=best_step)

    def _step(self, epoch: int, index: int) -> StepStats:
        stats = self.objective.train_step(epoch, index)
        model = self.loaded.model
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], self.config.max_grad_norm
        )
        self.learning_rate = float(self.scheduler.get_last_lr()[0])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.state = replace(
            self.state,
            step=self.state.step + 1,
            tokens_seen=self.state.tokens_seen + stats.tokens,
            last_loss=stats.loss_sum / max(stats.weight, 1),
        )
        return stats

    def _early_stop(self, valid: Evaluation) -> bool:
        """Track the best validation loss; True when patience has run out."""
        config, state = self.config, self.state
        if config.early_stopping_patience is None:
            return False
        best = state.best_valid_loss
        if best is None or valid.loss < best - config.early_stopping_min_delta:
            self.loaded.model.save_pretrained(str(config.output_dir / BEST_ADAPTER))
            self.state = replace(
                state, best_valid_loss=valid.loss, evals_without_improvement=0, best_step=state.step
            )
            return False
        waited = state.evals_without_improvement + 1
        self.state = replace(state, evals_without_improvement=waited)
        if waited < config.early_stopping_patience:
            return False
        self.callbacks.on_event(
            f"early stopping at step {state.step} of {self.total_steps}: validation loss "
            f"{valid.loss:.4f} has not improved on {best:.4f} (step {state.best_step}) by more "
            f"than {config.early_stopping_min_delta} for {waited} evaluations"
        )
        return True

    def _restore_best(self) -> int | None:
        """With early stopping, the result is the adapter of the best evaluation."""
        best_step, best_dir = self.state.best_step, self.config.output_dir / BEST_ADAPTER
        if best_step is None or not best_dir.is_dir():
            return None
        if best_step != self.state.step:
            load_adapter_weights(self.loaded.model, best_dir)
            self.callbacks.on_event(
                f"the result is the adapter of step {best_step} "
                f"(best validation loss {self.state.best_valid_loss:.4f})"
            )
        shutil.rmtree(best_dir, ignore_errors=True)
        return best_step

    def _report(
        self, window: _Window, valid: Evaluation | None, full_valid: Evaluation | None
    ) -> None:
        now = time.perf_counter()
        train = window.stats.evaluation()
        last = full_valid or valid
        self.callbacks.on_progress(
            ProgressMetrics(
                step=self.state.step,
                total_steps=self.total_steps,
                epoch=self.state.step / self.objective.steps_per_epoch,
                train_loss=train.loss,
                learning_rate=self.learning_rate,
                tokens_per_second=window.stats.tokens / max(now - window.started, 1e-9),
                tokens_seen=self.state.tokens_seen,
                elapsed_seconds=now - self.began,
                valid_loss=last.loss if last is not None else None,
                train=train,
                valid=valid,
                full_valid=full_valid,
            )
        )

    def _checkpoint(self) -> Path:
        config = self.config
        self.state = replace(self.state, elapsed_seconds=self._elapsed())
        path = save_checkpoint(
            config.output_dir / "checkpoints",
            self.loaded.model,
            self.optimizer,
            self.scheduler,
            self.state,
            config.keep_checkpoints,
        )
        self.callbacks.on_checkpoint(
            CheckpointInfo(step=self.state.step, path=path, train_loss=self.state.last_loss)
        )
        return path

    def _result(
        self,
        outcome: str,
        adapter: Path | None,
        merged: Path | None,
        last_checkpoint: Path | None,
        resumed_from: int | None,
        full_valid: Evaluation | None,
    ) -> TrainingResult:
        state = self.state
        return TrainingResult(
            outcome="cancelled" if outcome == "cancelled" else "succeeded",
            path_description=self.loaded.description,
            steps_completed=state.step,
            total_steps=self.total_steps,
            train_loss=None if math.isnan(state.last_loss) else state.last_loss,
            valid_loss=full_valid.loss if full_valid is not None else None,
            tokens_trained=state.tokens_seen,
            seconds=self._elapsed(),
            adapter_dir=adapter,
            merged_dir=merged,
            last_checkpoint=last_checkpoint,
            resumed_from_step=resumed_from,
            result_files=list_files(adapter, merged),
            full_valid=full_valid,
        )
