"""Batched greedy generation: the same text as one prompt at a time, in the order asked; a
LoRA adapter changes what the model says; limits are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from local_gpu.errors import LocalTrainingError
from local_gpu.generate import GenerationConfig, LocalGenerator

CONVERSATIONS = [
    [{"role": "user", "content": question}]
    for question in [
        "Where does Ada live?",
        "Tell me about Linus and the city of Oslo, and what he does there every day.",
        "Hi",
        "Which city is Grace from?",
        "Name a city.",
    ]
]


@pytest.fixture(scope="module")
def adapter_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model: Any = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir), local_files_only=True)
    peft_model: Any = get_peft_model(
        model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"])
    )
    torch.manual_seed(3)
    for name, parameter in peft_model.named_parameters():
        if "lora_B" in name:
            parameter.data.normal_(0, 0.5)
    directory = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(str(directory))
    return directory


def test_batches_give_what_one_at_a_time_gives_in_the_order_asked(tiny_model_dir: Path) -> None:
    batched = LocalGenerator(GenerationConfig(tiny_model_dir, device="cpu", batch_size=4))
    single = LocalGenerator(GenerationConfig(tiny_model_dir, device="cpu", batch_size=1))
    together = batched.generate(CONVERSATIONS, max_new_tokens=12)
    alone = [single.generate([c], max_new_tokens=12)[0] for c in CONVERSATIONS]
    assert [g.text for g in together] == [g.text for g in alone]
    assert [g.prompt_tokens for g in together] == [g.prompt_tokens for g in alone]
    assert together[2].prompt_tokens < together[1].prompt_tokens
    for generation in together:
        assert generation.finish_reason in ("stop", "length")
        assert 1 <= generation.completion_tokens <= 12
        if generation.finish_reason == "length":
            assert generation.completion_tokens == 12
    assert batched.generate(CONVERSATIONS, max_new_tokens=12) == together  # greedy: deterministic


def test_an_adapter_changes_the_answers(tiny_model_dir: Path, adapter_dir: Path) -> None:
    base = LocalGenerator(GenerationConfig(tiny_model_dir, device="cpu"))
    tuned = LocalGenerator(GenerationConfig(tiny_model_dir, adapter_dir=adapter_dir, device="cpu"))
    assert [g.text for g in base.generate(CONVERSATIONS, 8)] != [
        g.text for g in tuned.generate(CONVERSATIONS, 8)
    ]


def test_limits_and_missing_adapters_are_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(LocalTrainingError):
        LocalGenerator(GenerationConfig(tiny_model_dir, device="cpu", batch_size=0))
    with pytest.raises(LocalTrainingError, match="adapter_config"):
        LocalGenerator(GenerationConfig(tiny_model_dir, adapter_dir=tmp_path, device="cpu"))
    generator = LocalGenerator(GenerationConfig(tiny_model_dir, device="cpu"))
    with pytest.raises(LocalTrainingError):
        generator.generate(CONVERSATIONS, max_new_tokens=0)
