"""Batched greedy generation for eval runs: a local base model, with or without a job's LoRA
adapter, loaded once and asked many conversations at a time.

Prompts are rendered with the model's chat template (ChatML when it has none) plus the
generation prompt, sorted by length so each batch pads little, padded on the left, and
decoded greedily (deterministic) until the end-of-sequence token or ``max_new_tokens``.
Results come back in the order asked. Strictly offline, like training (``go_offline``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from local_gpu.data import DEFAULT_CHAT_TEMPLATE
from local_gpu.errors import LocalTrainingError
from local_gpu.loading import check_model_dir, load_tokenizer, resolve_device

MAX_BATCH = 256
MAX_NEW_TOKENS = 4096


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end of sequence) or "length"


@dataclass(frozen=True)
class GenerationConfig:
    model_dir: Path
    adapter_dir: Path | None = None
    device: str = "auto"
    batch_size: int = 16


class LocalGenerator:
    """Load once, then ``generate`` as often as needed."""

    def __init__(self, config: GenerationConfig) -> None:
        if not 1 <= config.batch_size <= MAX_BATCH:
            raise LocalTrainingError(f"batch_size must be 1..{MAX_BATCH}")
        check_model_dir(config.model_dir)
        import transformers

        self.config = config
        self.device = resolve_device(config.device)
        self.tokenizer: Any = load_tokenizer(config.model_dir)
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        auto_model: Any = transformers.AutoModelForCausalLM
        model: Any = auto_model.from_pretrained(
            str(config.model_dir), local_files_only=True, dtype=dtype
        ).to(self.device)
        if config.adapter_dir is not None:
            from peft import PeftModel

            if not (config.adapter_dir / "adapter_config.json").is_file():
                raise LocalTrainingError(
                    f"no LoRA adapter (adapter_config.json) in {config.adapter_dir}"
                )
            model = PeftModel.from_pretrained(model, str(config.adapter_dir))
        self.model = model.eval()

    def _prompt(self, messages: Sequence[dict[str, Any]]) -> list[int]:
        template = self.tokenizer.chat_template or DEFAULT_CHAT_TEMPLATE
        ids: list[int] = self.tokenizer.apply_chat_template(
            list(messages),
            chat_template=template,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=False,
        )
        return ids

    @torch.inference_mode()
    def generate(
        self, conversations: Sequence[Sequence[dict[str, Any]]], max_new_tokens: int = 256
    ) -> list[Generation]:
        if not 1 <= max_new_tokens <= MAX_NEW_TOKENS:
            raise LocalTrainingError(f"max_new_tokens must be 1..{MAX_NEW_TOKENS}")
        prompts = [self._prompt(messages) for messages in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        results: dict[int, Generation] = {}
        for start in range(0, len(order), self.config.batch_size):
            batch = order[start : start + self.config.batch_size]
            for index, generation in zip(
                batch, self._batch([prompts[i] for i in batch], max_new_tokens), strict=True
            ):
                results[index] = generation
        return [results[i] for i in range(len(prompts))]

    def _batch(self, prompts: list[list[int]], max_new_tokens: int) -> list[Generation]:
        padded = self.tokenizer.pad({"input_ids": prompts}, padding=True, return_tensors="pt").to(
            self.device
        )
        eos = self.tokenizer.eos_token_id
        output = self.model.generate(
            **padded,
            do_sample=False,
            max_new_tokens=max_new_tokens,
            eos_token_id=eos,
            pad_token_id=self.tokenizer.pad_token_id,
        )
        width = padded["input_ids"].shape[1]
        generations = []
        for prompt, row in zip(prompts, output[:, width:].tolist(), strict=True):
            stopped = eos in row
            tokens = row[: row.index(eos)] if stopped else row
            generations.append(
                Generation(
                    text=self.tokenizer.decode(tokens, skip_special_tokens=True),
                    prompt_tokens=len(prompt),
                    completion_tokens=len(tokens) + (1 if stopped else 0),
                    finish_reason="stop" if stopped else "length",
                )
            )
        return generations
