"""The packed training loop: progress, checkpoints, cancel and resume."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from local_gpu.checkpoint import ResumeState, latest_checkpoint, load_checkpoint, save_checkpoint
from local_gpu.config import (
    CheckpointInfo,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    TrainingResult,
)
from local_gpu.data import LoadedDataset, load_examples
from local_gpu.errors import LocalTrainingError, UnsupportedMethodError
from local_gpu.export import list_files, merge_adapter, save_adapter
from local_gpu.loading import TrainingModel, build_optimizer, load_for_training
from local_gpu.loss import mean_loss, summed_token_loss
from local_gpu.packing import PackedBatch, StepPlan, collate_rows, pack_rows

SUPPORTED_METHODS = ("supervised",)  # keep in step with supported_methods()


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


def _validation_batches(data: LoadedDataset, config: TrainingConfig) -> list[PackedBatch]:
    rows = pack_rows([len(e.input_ids) for e in data.examples], config.max_seq_len)
    return [
        collate_rows(rows[i : i + config.rows_per_batch], data.examples)
        for i in range(0, len(rows), config.rows_per_batch)
    ]


@dataclass
class _Window:
    """What happened since the last progress report."""

    started: float
    loss_sum: float = 0.0
    supervised: int = 0
    tokens: int = 0


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


def train(config: TrainingConfig, callbacks: TrainingCallbacks) -> TrainingResult:
    _check_config(config)
    if config.torch_threads:
        torch.set_num_threads(config.torch_threads)
    _seed_everything(config.seed)
    loaded = load_for_training(config)
    callbacks.on_event(f"training path: {loaded.description}")
    train_data = load_examples(config.train_file, loaded.tokenizer, config.max_seq_len)
    valid_batches = (
        _validation_batches(
            load_examples(config.validation_file, loaded.tokenizer, config.max_seq_len), config
        )
        if config.validation_file
        else []
    )
    callbacks.on_event(
        f"{len(train_data.examples)} examples, {train_data.tokens} tokens"
        + (
            f", {train_data.truncated} truncated to {config.max_seq_len}"
            if train_data.truncated
            else ""
        )
        + (
            f", {train_data.dropped_without_loss} dropped (nothing to learn after truncation)"
            if train_data.dropped_without_loss
            else ""
        )
    )
    rows = pack_rows([len(e.input_ids) for e in train_data.examples], config.max_seq_len)
    plan = StepPlan(rows, config.rows_per_batch, config.gradient_accumulation_steps, config.seed)
    total_steps = plan.steps_per_epoch * config.epochs
    optimizer = build_optimizer(loaded, config)
    _, factor = linear_schedule(total_steps, config.warmup_ratio)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)  # type: ignore[arg-type]
    return _run(
        config,
        callbacks,
        loaded,
        train_data,
        valid_batches,
        plan,
        total_steps,
        optimizer,
        scheduler,
    )


def _run(
    config: TrainingConfig,
    callbacks: TrainingCallbacks,
    loaded: TrainingModel,
    train_data: LoadedDataset,
    valid_batches: list[PackedBatch],
    plan: StepPlan,
    total_steps: int,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
) -> TrainingResult:
    model, device = loaded.model, loaded.device
    checkpoints = config.output_dir / "checkpoints"
    state = ResumeState(step=0, tokens_seen=0, elapsed_seconds=0.0, last_loss=math.nan)
    resumed_from: int | None = None
    last_saved = latest_checkpoint(checkpoints) if config.resume else None
    if last_saved is not None:
        state = load_checkpoint(last_saved, model, optimizer, scheduler)
        resumed_from = state.step
        callbacks.on_event(f"resumed from checkpoint at step {state.step}")
    model.train()
    began = time.perf_counter() - state.elapsed_seconds
    window = _Window(started=time.perf_counter())
    valid_loss: float | None = None
    step, tokens_seen, last_loss = state.step, state.tokens_seen, state.last_loss
    outcome: str = "succeeded"
    while step < total_steps:
        if callbacks.should_cancel():
            outcome = "cancelled"
            break
        epoch, index = divmod(step, plan.steps_per_epoch)
        batches = [collate_rows(micro, train_data.examples) for micro in plan.step(epoch, index)]
        supervised = sum(b.supervised_tokens for b in batches)
        step_loss = 0.0
        for batch in batches:
            loss = summed_token_loss(model, batch, device, loaded.autocast_dtype)
            (loss / supervised).backward()  # type: ignore[no-untyped-call]
            step_loss += loss.item()
        torch.nn.utils.clip_grad_norm_(
            [p for p in model.parameters() if p.requires_grad], config.max_grad_norm
        )
        learning_rate = float(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        step_tokens = sum(b.real_tokens for b in batches)
        tokens_seen += step_tokens
        last_loss = step_loss / supervised
        window.loss_sum += step_loss
        window.supervised += supervised
        window.tokens += step_tokens
        finished = step == total_steps
        if config.eval_every and valid_batches and (step % config.eval_every == 0 or finished):
            valid_loss = mean_loss(model, valid_batches, device, loaded.autocast_dtype)
        if step % config.progress_every == 0 or finished:
            now = time.perf_counter()
            callbacks.on_progress(
                ProgressMetrics(
                    step=step,
                    total_steps=total_steps,
                    epoch=step / plan.steps_per_epoch,
                    train_loss=window.loss_sum / window.supervised,
                    learning_rate=learning_rate,
                    tokens_per_second=window.tokens / max(now - window.started, 1e-9),
                    tokens_seen=tokens_seen,
                    elapsed_seconds=now - began,
                    valid_loss=valid_loss,
                )
            )
            window = _Window(started=time.perf_counter())
        if step % config.checkpoint_every == 0 and not finished:
            last_saved = _checkpoint(
                config,
                callbacks,
                loaded,
                optimizer,
                scheduler,
                ResumeState(step, tokens_seen, time.perf_counter() - began, last_loss),
            )
    if outcome == "cancelled":
        if step and (last_saved is None or not last_saved.name.endswith(f"{step:08d}")):
            last_saved = _checkpoint(
                config,
                callbacks,
                loaded,
                optimizer,
                scheduler,
                ResumeState(step, tokens_seen, time.perf_counter() - began, last_loss),
            )
        callbacks.on_event(f"cancelled at step {step} of {total_steps}")
        return _result(
            config,
            loaded,
            "cancelled",
            step,
            total_steps,
            last_loss,
            valid_loss,
            tokens_seen,
            began,
            None,
            None,
            last_saved,
            resumed_from,
        )
    if valid_batches and config.eval_every is None:
        valid_loss = mean_loss(model, valid_batches, device, loaded.autocast_dtype)
    adapter = save_adapter(model, loaded.tokenizer, config.output_dir / "adapter")
    callbacks.on_event(f"adapter saved to {adapter}")
    merged = None
    if config.merge_adapter:
        merged = merge_adapter(
            config.model_dir, adapter, loaded.tokenizer, config.output_dir / "merged"
        )
        callbacks.on_event(f"merged model saved to {merged}")
    return _result(
        config,
        loaded,
        "succeeded",
        step,
        total_steps,
        last_loss,
        valid_loss,
        tokens_seen,
        began,
        adapter,
        merged,
        last_saved,
        resumed_from,
    )


def _checkpoint(
    config: TrainingConfig,
    callbacks: TrainingCallbacks,
    loaded: TrainingModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LambdaLR,
    state: ResumeState,
) -> Path:
    path = save_checkpoint(
        config.output_dir / "checkpoints",
        loaded.model,
        optimizer,
        scheduler,
        state,
        config.keep_checkpoints,
    )
    callbacks.on_checkpoint(CheckpointInfo(step=state.step, path=path, train_loss=state.last_loss))
    return path


def _result(
    config: TrainingConfig,
    loaded: TrainingModel,
    outcome: str,
    step: int,
    total_steps: int,
    last_loss: float,
    valid_loss: float | None,
    tokens_seen: int,
    began: float,
    adapter: Path | None,
    merged: Path | None,
    last_checkpoint: Path | None,
    resumed_from: int | None,
) -> TrainingResult:
    return TrainingResult(
        outcome="cancelled" if outcome == "cancelled" else "succeeded",
        path_description=loaded.description,
        steps_completed=step,
        total_steps=total_steps,
        train_loss=None if math.isnan(last_loss) else last_loss,
        valid_loss=valid_loss,
        tokens_trained=tokens_seen,
        seconds=time.perf_counter() - began,
        adapter_dir=adapter,
        merged_dir=merged,
        last_checkpoint=last_checkpoint,
        resumed_from_step=resumed_from,
        result_files=list_files(adapter, merged),
    )
