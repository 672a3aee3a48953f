"""The options of a local job (``provider_options``) and how a job's fields become the local
trainer's configuration. ``local_gpu``'s config dataclasses import no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from local_gpu import LoraSettings, TrainingConfig
from service.errors import InvalidRequest

BASE_LEARNING_RATE = 2e-4
"""``learning_rate_multiplier`` scales this (a usual LoRA learning rate)."""
DEFAULT_ROWS_PER_BATCH = 4
DEFAULT_PROGRESS_EVERY = 5
DEFAULT_CHECKPOINT_EVERY = 50


class LocalOptions(BaseModel):
    """``provider_options`` a local job understands; anything else is a 400 at create."""

    model_config = ConfigDict(extra="forbid")

    training_type: Literal["lora"] | None = None
    lora_rank: int | None = Field(default=None, ge=1, le=1024)
    lora_alpha: int | None = Field(default=None, ge=1, le=4096)
    lora_dropout: float | None = Field(default=None, ge=0, lt=1)
    # "nf4" = QLoRA on a 4-bit base; "none" = plain LoRA on the unquantized base.
    quantization: Literal["nf4", "none"] | None = None
    device: Literal["auto", "cpu", "cuda"] | None = None
    max_seq_len: int | None = Field(default=None, ge=16, le=131072)
    merge_adapter: bool | None = None
    progress_every: int | None = Field(default=None, ge=1)
    checkpoint_every: int | None = Field(default=None, ge=1)
    # A previous local job of the same tenant (ftjob-…) or one of its checkpoints (ftckpt-…):
    # train on from its adapter.
    from_checkpoint: str | None = Field(default=None, min_length=1, max_length=64)
    # Validation every N steps (default: at each progress report when early stopping is on).
    eval_every: int | None = Field(default=None, ge=1, le=1_000_000)
    # Stop after this many evaluations without a validation-loss improvement above min_delta;
    # the best evaluated adapter is the result. Needs a validation file.
    early_stopping_patience: int | None = Field(default=None, ge=1, le=1000)
    early_stopping_min_delta: float | None = Field(default=None, ge=0, le=10, allow_inf_nan=False)


def parse_local_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options as stored on the job (unset ones left out); a 400 naming a bad one."""
    return _local_options(options).model_dump(exclude_none=True)


def _local_options(options: dict[str, Any]) -> LocalOptions:
    try:
        return LocalOptions.model_validate(options)
    except ValidationError as exc:
        first = exc.errors()[0]
        # the options are flat: the rest of a location names a union's member, not a field
        param = f"provider_options.{first['loc'][0]}" if first["loc"] else "provider_options"
        raise InvalidRequest(
            f"{param}: {first['msg']} (local jobs accept: {', '.join(LocalOptions.model_fields)})",
            param=param,
            code="invalid_provider_options",
        ) from None


def _number(hyperparameters: dict[str, Any], key: str) -> float | None:
    value = hyperparameters.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # "auto" or unset
    return float(value)


def training_config(
    *,
    method: Literal["supervised", "dpo"],
    model_dir: Path,
    train_file: Path,
    validation_file: Path | None,
    output_dir: Path,
    hyperparameters: dict[str, Any],
    options: dict[str, Any],
    seed: int,
    init_adapter: Path | None = None,
) -> TrainingConfig:
    chosen = _local_options(options)
    epochs = _number(hyperparameters, "n_epochs")
    batch = _number(hyperparameters, "batch_size")
    multiplier = _number(hyperparameters, "learning_rate_multiplier")
    beta = _number(hyperparameters, "beta")
    defaults = LoraSettings()
    lora = LoraSettings(
        rank=chosen.lora_rank or defaults.rank,
        alpha=chosen.lora_alpha or defaults.alpha,
        dropout=chosen.lora_dropout if chosen.lora_dropout is not None else defaults.dropout,
    )
    return TrainingConfig(
        method=method,
        init_adapter=init_adapter,
        dpo_beta=beta or TrainingConfig.dpo_beta,
        model_dir=model_dir,
        train_file=train_file,
        validation_file=validation_file,
        output_dir=output_dir,
        device=chosen.device or "auto",
        quantization=chosen.quantization or "nf4",
        lora=lora,
        epochs=max(1, round(epochs)) if epochs else 1,
        learning_rate=BASE_LEARNING_RATE * (multiplier or 1.0),
        rows_per_batch=int(batch) if batch else DEFAULT_ROWS_PER_BATCH,
        max_seq_len=chosen.max_seq_len or TrainingConfig.max_seq_len,
        seed=seed,
        progress_every=chosen.progress_every or DEFAULT_PROGRESS_EVERY,
        checkpoint_every=chosen.checkpoint_every or DEFAULT_CHECKPOINT_EVERY,
        merge_adapter=bool(chosen.merge_adapter),
        eval_every=chosen.eval_every,
        early_stopping_patience=chosen.early_stopping_patience,
        early_stopping_min_delta=chosen.early_stopping_min_delta or 0.0,
        resume=True,
    )
