"""Load a local Hugging Face model for LoRA/QLoRA training, strictly offline.

Callers must have set HF_HUB_OFFLINE=1 before this module is imported (see run_training):
bitsandbytes may otherwise try to fetch an optional kernel from the Hub at import time.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from local_gpu.config import TrainingConfig
from local_gpu.errors import LocalTrainingError, ModelNotFoundError


@dataclass(frozen=True)
class TrainingModel:
    model: Any  # a peft PeftModel
    tokenizer: Any
    device: torch.device
    # dtype for torch.autocast during forward passes, or None to run in the weights' dtype.
    autocast_dtype: torch.dtype | None
    quantized: bool
    description: str
    # LoRA layers on the fused path (fused_lora.py): plain LoRA on an unquantized base, and
    # only while no autocast is active, i.e. fp32 runs; 0 for QLoRA.
    fused_layers: int = 0


def resolve_device(requested: str) -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise LocalTrainingError("device 'cuda' was requested but no CUDA GPU is available")
    return device


def resolve_compute_dtype(config: TrainingConfig, device: torch.device) -> torch.dtype:
    if config.precision == "bf16":
        return torch.bfloat16
    if config.precision == "fp32":
        return torch.float32
    on_bf16_gpu = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.bfloat16 if on_bf16_gpu else torch.float32


def check_model_dir(model_dir: Path) -> None:
    if not (model_dir / "config.json").is_file():
        raise ModelNotFoundError(f"no Hugging Face model (config.json) in {model_dir}")


def attention_implementation(device: torch.device) -> str:
    # flash-attention turns reset position_ids into a varlen call; SDPA gets a block mask.
    if device.type == "cuda" and importlib.util.find_spec("flash_attn") is not None:
        return "flash_attention_2"
    return "sdpa"


def load_tokenizer(model_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)


def load_base_model(
    model_dir: Path, device: torch.device, compute_dtype: torch.dtype, quantize: bool
) -> Any:
    import transformers

    auto_model: Any = transformers.AutoModelForCausalLM
    quantization_config: Any = transformers.BitsAndBytesConfig

    check_model_dir(model_dir)
    options: dict[str, Any] = {
        "local_files_only": True,
        "attn_implementation": attention_implementation(device),
        "dtype": compute_dtype,
    }
    if quantize:
        options["quantization_config"] = quantization_config(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    if device.type == "cuda":
        options["device_map"] = {"": device.index or 0}
    model: Any = auto_model.from_pretrained(str(model_dir), **options)
    if device.type != "cuda" and not quantize:
        model.to(device)
    return model


def load_for_training(config: TrainingConfig) -> TrainingModel:
    import peft
    from peft import LoraConfig, PeftModel, get_peft_model

    from local_gpu.fused_lora import fuse_lora_layers
    from local_gpu.segment_attention import register_segment_attention

    prepare_for_kbit: Any = peft.prepare_model_for_kbit_training

    device = resolve_device(config.device)
    compute_dtype = resolve_compute_dtype(config, device)
    quantize = config.quantization == "nf4"
    checkpointing = (
        device.type == "cuda"
        if config.gradient_checkpointing is None
        else config.gradient_checkpointing
    )
    model = load_base_model(config.model_dir, device, compute_dtype, quantize)
    model.config.use_cache = False
    if model.config._attn_implementation == "sdpa" and device.type == "cpu":
        # Per-example causal SDPA instead of a dense block mask over each packed row.
        model.set_attn_implementation(register_segment_attention())
    if quantize:
        model = prepare_for_kbit(
            model,
            use_gradient_checkpointing=checkpointing,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    elif checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    targets = config.lora.target_modules
    lora = LoraConfig(
        r=config.lora.rank,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=targets if isinstance(targets, str) else list(targets),
        bias="none",
        task_type="CAUSAL_LM",
    )
    if config.init_adapter is not None:
        peft_model = _continue_adapter(PeftModel, model, config.init_adapter)
    else:
        try:
            peft_model = get_peft_model(model, lora)
        except ValueError as error:
            raise LocalTrainingError(f"LoRA target modules {targets!r}: {error}") from None
    fused = 0
    if not quantize:
        # One autograd op per plain-LoRA linear (dropout 0, no autocast); others keep peft's.
        fused = fuse_lora_layers(peft_model)
    precision = "bf16" if compute_dtype == torch.bfloat16 else "fp32"
    kind = "qlora-nf4" if quantize else f"lora {precision}"
    return TrainingModel(
        model=peft_model,
        tokenizer=load_tokenizer(config.model_dir),
        device=device,
        autocast_dtype=torch.bfloat16 if compute_dtype == torch.bfloat16 else None,
        quantized=quantize,
        fused_layers=fused if compute_dtype != torch.bfloat16 else 0,
        description=f"{kind} on {device.type}",
    )


def _continue_adapter(peft_model_class: Any, model: Any, directory: Path) -> Any:
    """The base with a previous run's adapter, trainable (its rank and targets win)."""
    if not (directory / "adapter_config.json").is_file():
        raise LocalTrainingError(f"no LoRA adapter (adapter_config.json) in {directory}")
    try:
        return peft_model_class.from_pretrained(model, str(directory), is_trainable=True)
    except (ValueError, RuntimeError, KeyError) as error:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise LocalTrainingError(
            f"the adapter in {directory.name} does not fit this base model: {first}"
        ) from None


def build_optimizer(loaded: TrainingModel, config: TrainingConfig) -> torch.optim.Optimizer:
    params = [p for p in loaded.model.parameters() if p.requires_grad]
    lr, decay = config.learning_rate, config.weight_decay
    if loaded.quantized:
        import bitsandbytes.optim

        # Paged optimizers only exist on CUDA; on CPU bnb would fall back with a warning.
        eight_bit: Any = (
            bitsandbytes.optim.PagedAdamW8bit  # type: ignore[attr-defined]
            if loaded.device.type == "cuda"
            else bitsandbytes.optim.AdamW8bit  # type: ignore[attr-defined]
        )
        optimizer: torch.optim.Optimizer = eight_bit(params, lr=lr, weight_decay=decay)
        return optimizer
    # Fused: one kernel per step on CUDA and CPU alike, not ~10 small ops per LoRA tensor.
    fused = loaded.device.type in ("cuda", "cpu")
    return torch.optim.AdamW(params, lr=lr, weight_decay=decay, fused=fused)


def trainable_description(model: Any) -> tuple[int, int]:
    """(trainable parameters, all parameters)."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
