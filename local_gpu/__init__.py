"""The self-hosted LoRA/QLoRA trainer. Imports nothing else of tuneforge.

Entry point for the gpu worker::

    result = run_training(TrainingConfig(model_dir=..., train_file=..., output_dir=...),
                          TrainingCallbacks(on_progress=..., should_cancel=...))

Importing this package does not import torch; run_training does, after switching the Hugging
Face libraries offline.
"""

from __future__ import annotations

import os

from local_gpu.config import (
    CheckpointInfo,
    Evaluation,
    LoraSettings,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    TrainingResult,
)
from local_gpu.errors import (
    DatasetError,
    LocalTrainingError,
    ModelNotFoundError,
    UnsupportedMethodError,
)
from local_gpu.estimate import estimate_seconds

__all__ = [
    "CheckpointInfo",
    "DatasetError",
    "Evaluation",
    "LocalTrainingError",
    "LoraSettings",
    "ModelNotFoundError",
    "ProgressMetrics",
    "TrainingCallbacks",
    "TrainingConfig",
    "TrainingResult",
    "UnsupportedMethodError",
    "estimate_seconds",
    "go_offline",
    "run_training",
    "supported_methods",
]


def supported_methods() -> tuple[str, ...]:
    """Training methods run_training accepts; anything else raises UnsupportedMethodError."""
    return ("supervised", "dpo")


def go_offline() -> None:
    """Keep transformers/bitsandbytes off the network (bnb may fetch a Hub kernel at import)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def run_training(
    config: TrainingConfig, callbacks: TrainingCallbacks | None = None
) -> TrainingResult:
    """Train (or resume) one LoRA/QLoRA run. Raises LocalTrainingError for user mistakes."""
    go_offline()
    from local_gpu.loop import train

    return train(config, callbacks or TrainingCallbacks())
