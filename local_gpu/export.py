"""Final artifacts: the adapter in safetensors (with its tokenizer), optionally a merged model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from local_gpu.loading import load_base_model


def save_adapter(model: Any, tokenizer: Any, directory: Path) -> Path:
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return directory


def load_adapter_weights(model: Any, directory: Path) -> None:
    """Put the adapter weights saved in `directory` into the peft model (same LoRA shape)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(directory / "adapter_model.safetensors")))


def merge_adapter(model_dir: Path, adapter_dir: Path, tokenizer: Any, directory: Path) -> Path:
    """Merge into a freshly loaded unquantized base (merging into NF4 weights would round)."""
    from peft import PeftModel

    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    base = load_base_model(model_dir, torch.device("cpu"), dtype, quantize=False)
    merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return directory


def list_files(*directories: Path | None) -> list[Path]:
    found: list[Path] = []
    for directory in directories:
        if directory is not None:
            found += sorted(p for p in directory.rglob("*") if p.is_file())
    return found
