"""Checkpoints: adapter (safetensors) + optimizer, scheduler, RNG states and data position.

The state file is read with ``torch.load(weights_only=True)``: it holds only tensors and plain
Python values (the numpy RNG state is stored as a tensor), so loading a checkpoint can never
run code, whoever wrote the file.

Each checkpoint is written to a temporary directory and renamed into place, so a crash while
saving never leaves a half-written checkpoint that resume would pick up.
"""

from __future__ import annotations

import pickle
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from local_gpu.errors import LocalTrainingError

PREFIX = "step-"
STATE_FILE = "training_state.pt"


@dataclass(frozen=True)
class ResumeState:
    step: int
    tokens_seen: int
    elapsed_seconds: float
    last_loss: float
    # Early stopping: the best validation loss so far and evaluations since it improved.
    best_valid_loss: float | None = None
    evals_without_improvement: int = 0
    best_step: int | None = None


def checkpoint_dir(root: Path, step: int) -> Path:
    return root / f"{PREFIX}{step:08d}"


def list_checkpoints(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / STATE_FILE).is_file()]
    return sorted(done, key=lambda p: p.name)


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1] if found else None


def _rng_states() -> dict[str, Any]:
    kind, keys, position, has_gauss, gauss = np.random.get_state(legacy=True)
    assert isinstance(keys, np.ndarray)
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), position, has_gauss, gauss],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _restore_rng(states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    kind, keys, position, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), position, has_gauss, gauss))
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    root: Path,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    state: ResumeState,
    keep: int,
) -> Path:
    final = checkpoint_dir(root, state.step)
    staging = final.with_name(final.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save_pretrained(str(staging / "adapter"))
    torch.save(
        {
            "step": state.step,
            "tokens_seen": state.tokens_seen,
            "elapsed_seconds": state.elapsed_seconds,
            "last_loss": state.last_loss,
            "best_valid_loss": state.best_valid_loss,
            "evals_without_improvement": state.evals_without_improvement,
            "best_step": state.best_step,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": _rng_states(),
        },
        staging / STATE_FILE,
    )
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    for old in list_checkpoints(root)[: -max(keep, 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(
    path: Path,
    model: Any,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
) -> ResumeState:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(path / "adapter" / "adapter_model.safetensors"))
    set_peft_model_state_dict(model, weights)
    try:
        saved = torch.load(path / STATE_FILE, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise LocalTrainingError(
            f"checkpoint {path.name}: its state file holds more than tensors and plain values "
            f"and is not loaded ({str(error).splitlines()[0]})"
        ) from None
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    _restore_rng(saved["rng"])
    return ResumeState(
        step=saved["step"],
        tokens_seen=saved["tokens_seen"],
        elapsed_seconds=saved["elapsed_seconds"],
        last_loss=saved["last_loss"],
        best_valid_loss=saved.get("best_valid_loss"),
        evals_without_improvement=saved.get("evals_without_improvement", 0),
        best_step=saved.get("best_step"),
    )
