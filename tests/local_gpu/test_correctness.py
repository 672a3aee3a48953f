"""Regression tests for trainer bugs found by reading: each failed before its fix."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from local_gpu import (
    LocalTrainingError,
    LoraSettings,
    TrainingCallbacks,
    TrainingConfig,
    run_training,
)
from local_gpu.checkpoint import STATE_FILE, load_checkpoint
from local_gpu.data import IGNORE_INDEX, ExampleTokenizer, load_examples, parse_record
from local_gpu.loading import load_for_training, load_tokenizer
from local_gpu.loss import summed_token_loss
from local_gpu.packing import collate_rows


def _save_tiny(directory: Path, tokenizer_dir: Path, model_type: str, **settings: Any) -> Path:
    import transformers

    auto_model: Any = transformers.AutoModelForCausalLM
    auto_config: Any = transformers.AutoConfig
    tokenizer = load_tokenizer(tokenizer_dir)
    config = auto_config.for_model(
        model_type,
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **settings,
    )
    torch.manual_seed(0)
    auto_model.from_config(config).save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def _config(model_dir: Path, train_file: Path, output: Path, **changes: Any) -> TrainingConfig:
    base = TrainingConfig(
        model_dir=model_dir,
        train_file=train_file,
        output_dir=output,
        quantization="none",
        lora=LoraSettings(rank=4, alpha=8, dropout=0.0),
        max_seq_len=256,
        rows_per_batch=2,
        torch_threads=2,
    )
    return replace(base, **changes)


@pytest.mark.parametrize(
    ("model_type", "settings"),
    [("granite", {"logits_scaling": 8.0}), ("cohere", {"logit_scale": 0.25})],
)
def test_our_loss_is_the_models_own_loss_with_its_logit_scaling(
    model_type: str,
    settings: dict[str, float],
    tiny_model_dir: Path,
    small_chat_file: Path,
    tmp_path: Path,
) -> None:
    model_dir = _save_tiny(tmp_path / model_type, tiny_model_dir, model_type, **settings)
    loaded = load_for_training(_config(model_dir, small_chat_file, tmp_path))
    data = load_examples(small_chat_file, loaded.tokenizer, 256)
    batch = collate_rows([[0]], data.examples)
    loaded.model.eval()
    with torch.no_grad():
        ours = summed_token_loss(loaded.model, batch, loaded.device, None) / batch.supervised_tokens
        own = loaded.model(input_ids=batch.input_ids, labels=batch.labels, use_cache=False).loss
    assert ours.item() == pytest.approx(own.item(), rel=1e-5)


def test_linear_attention_models_train_without_mixing_examples(
    tiny_model_dir: Path, small_chat_file: Path, tmp_path: Path
) -> None:
    model_dir = _save_tiny(
        tmp_path / "qwen3-next",
        tiny_model_dir,
        "qwen3_next",
        head_dim=16,
        layer_types=["linear_attention", "full_attention"],
        linear_num_key_heads=2,
        linear_num_value_heads=4,
        linear_key_head_dim=16,
        linear_value_head_dim=16,
        num_experts=0,
        mlp_only_layers=[0, 1],
        # At the default 0.02 the random linear-attention layer's output is ~1e-7: no state
        # would visibly flow between packed examples.
        initializer_range=0.3,
    )
    events: list[str] = []
    config = _config(
        model_dir, small_chat_file, tmp_path / "run", validation_file=small_chat_file, epochs=1
    )
    result = run_training(
        replace(config, learning_rate=0.0), TrainingCallbacks(on_event=events.append)
    )

    # The reported validation loss equals the base model's, example by example (lr 0: the
    # adapter stays at zero), which packed rows would break: the gated delta net's state
    # would flow from one example into the next.
    import transformers

    auto_model: Any = transformers.AutoModelForCausalLM
    base: Any = auto_model.from_pretrained(str(model_dir)).eval()
    data = load_examples(small_chat_file, load_tokenizer(model_dir), 256)
    total = 0.0
    with torch.no_grad():
        for example in data.examples:
            ids = torch.tensor([example.input_ids])
            labels = torch.tensor([example.labels])
            total += base(input_ids=ids, labels=labels).loss.item() * example.supervised_tokens
    expected = total / sum(e.supervised_tokens for e in data.examples)
    assert result.valid_loss == pytest.approx(expected, rel=1e-4)
    assert any(
        "packing off, one example per row: qwen3_next has linear_attention" in e for e in events
    )


TOOL_TEMPLATE = (
    "{% if tools %}<|system|>\nTools: {{ tools | map(attribute='function.name') | join(', ') }}"
    "<|end|>\n{% endif %}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n"
    "{% if message.get('tool_calls') %}"
    "{% for call in message['tool_calls'] %}"
    "call {{ call['function']['name'] }}({{ call['function']['arguments'] }})"
    "{% endfor %}"
    "{% else %}{{ message['content'] }}{% endif %}<|end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def test_tools_and_tool_calls_reach_the_chat_template(tiny_model_dir: Path) -> None:
    tokenizer = load_tokenizer(tiny_model_dir)
    tokenizer.chat_template = TOOL_TEMPLATE
    weather = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}
    record = parse_record(
        {
            "tools": [{"type": "function", "function": weather}],
            "messages": [
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "Sunny"},
                {"role": "assistant", "content": "It is sunny in Oslo."},
            ],
        },
        "tools.jsonl",
        1,
    )
    example, _ = ExampleTokenizer(tokenizer, 512).tokenize(record)
    text = tokenizer.decode(example.input_ids)
    assert "Tools: get_weather" in text
    assert 'call get_weather({"city": "Oslo"})' in text
    supervised = tokenizer.decode(
        [
            t
            for t, label in zip(example.input_ids, example.labels, strict=True)
            if label != IGNORE_INDEX
        ]
    )
    assert supervised == 'call get_weather({"city": "Oslo"})<|end|>\nIt is sunny in Oslo.<|end|>\n'


class _Touch:
    """A pickle payload that creates a file when unpickled without weights_only."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.target,))


def test_a_checkpoint_state_file_cannot_run_code(
    tiny_model_dir: Path, small_chat_file: Path, tmp_path: Path
) -> None:
    loaded = load_for_training(_config(tiny_model_dir, small_chat_file, tmp_path))
    checkpoint = tmp_path / "checkpoints" / "step-00000001"
    loaded.model.save_pretrained(str(checkpoint / "adapter"))
    marker = tmp_path / "code-ran"
    with (checkpoint / STATE_FILE).open("wb") as handle:
        torch.save(
            {"step": 1, "payload": _Touch(marker)}, handle, pickle_protocol=pickle.HIGHEST_PROTOCOL
        )
    optimizer = torch.optim.AdamW([p for p in loaded.model.parameters() if p.requires_grad])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    with pytest.raises(LocalTrainingError, match="step-00000001: its state file holds more"):
        load_checkpoint(checkpoint, loaded.model, optimizer, scheduler)
    assert not marker.exists()
