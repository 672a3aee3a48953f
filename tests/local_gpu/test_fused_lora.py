from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch

from local_gpu import (
    LoraSettings,
    ProgressMetrics,
    TrainingCallbacks,
    TrainingConfig,
    fused_lora,
    loop,
    run_training,
)
from local_gpu.data import load_examples
from local_gpu.export import save_adapter
from local_gpu.fused_lora import FusedLoraLinear, fuse_lora_layers, fused_lora_linear
from local_gpu.loading import TrainingModel, load_for_training
from local_gpu.loss import summed_token_loss
from local_gpu.packing import PackedBatch, collate_rows, pack_rows

CPU = torch.device("cpu")


def _config(model_dir: Path, train_file: Path, output_dir: Path, **changes: Any) -> TrainingConfig:
    options: dict[str, Any] = {
        "quantization": "none",
        "device": "cpu",
        "lora": LoraSettings(rank=8, alpha=16, dropout=0.0),
        "max_seq_len": 256,
        "rows_per_batch": 2,
        "torch_threads": 2,
        **changes,
    }
    return TrainingConfig(
        model_dir=model_dir, train_file=train_file, output_dir=output_dir, **options
    )


def _load_unfused(config: TrainingConfig, monkeypatch: pytest.MonkeyPatch) -> TrainingModel:
    """load_for_training exactly as in production, minus the fusing."""
    with monkeypatch.context() as patch:
        patch.setattr(fused_lora, "fuse_lora_layers", lambda model: 0)
        torch.manual_seed(0)
        return load_for_training(config)


def _lora_layers(model: Any) -> list[Any]:
    from peft.tuners.lora.layer import Linear

    return [m for m in model.modules() if isinstance(m, Linear)]


def _with_nonzero_lora_b(model: Any, seed: int) -> Any:
    """lora_B starts at zero, which leaves lora_A without a gradient: give it small values."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in _lora_layers(model):
            weight = layer.lora_B["default"].weight
            weight.copy_(torch.randn(weight.shape, generator=generator) * 0.05)
    return model


def _packed_batch(loaded: TrainingModel, train_file: Path) -> PackedBatch:
    examples = load_examples(train_file, loaded.tokenizer, 256).examples
    rows = pack_rows([len(e.input_ids) for e in examples], 256)
    assert len(rows[0]) > 1  # really packed: several examples in a row
    return collate_rows(rows[:2], examples)


def _loss_and_grads(
    model: Any, batch: PackedBatch, autocast_dtype: torch.dtype | None = None
) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = summed_token_loss(model, batch, CPU, autocast_dtype) / batch.supervised_tokens
    loss.backward()  # type: ignore[no-untyped-call]
    grads = {
        name: p.grad.clone()
        for name, p in model.named_parameters()
        if p.requires_grad and p.grad is not None
    }
    assert not any(p.grad is not None for p in model.parameters() if not p.requires_grad)
    return loss.item(), grads


def _count_fused_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]

    def counting(*args: Any) -> torch.Tensor:
        calls[0] += 1
        return fused_lora_linear(*args)

    monkeypatch.setattr(fused_lora, "fused_lora_linear", counting)
    return calls


@pytest.fixture
def twins(
    tiny_model_dir: Path, small_chat_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, Any, PackedBatch, int]:
    """(unfused, fused, packed batch, fused count): the same weights, lora_B made non-zero."""
    loaded = _load_unfused(_config(tiny_model_dir, small_chat_file, tmp_path), monkeypatch)
    unfused = _with_nonzero_lora_b(loaded.model, seed=1)
    fused = copy.deepcopy(unfused)
    count = fuse_lora_layers(fused)
    return unfused, fused, _packed_batch(loaded, small_chat_file), count


def _assert_same(
    expected: tuple[float, dict[str, torch.Tensor]], actual: tuple[float, dict[str, torch.Tensor]]
) -> None:
    assert actual[0] == pytest.approx(expected[0], rel=1e-5)
    assert actual[1].keys() == expected[1].keys()
    assert any("lora_A" in name for name in expected[1])
    for name, grad in expected[1].items():
        assert grad.abs().max() > 0, name
        torch.testing.assert_close(actual[1][name], grad, atol=1e-6, rtol=1e-4, msg=name)


def test_fused_layers_give_the_same_loss_and_lora_gradients(
    twins: tuple[Any, Any, PackedBatch, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    unfused, fused, batch, count = twins
    layers = unfused.get_base_model().config.num_hidden_layers
    assert count == len(_lora_layers(fused)) == 7 * layers
    assert all(type(m) is FusedLoraLinear for m in _lora_layers(fused))
    # Same Parameter objects as before fusing: the optimizer and adapter saving see no change.
    assert list(fused.state_dict()) == list(unfused.state_dict())

    calls = _count_fused_calls(monkeypatch)
    unfused.train(), fused.train()
    _assert_same(_loss_and_grads(unfused, batch), _loss_and_grads(fused, batch))
    assert calls[0] == count  # one fused op per layer, no silent fallback
    assert fuse_lora_layers(fused) == 0  # idempotent


def test_fused_layers_fall_back_under_autocast(
    twins: tuple[Any, Any, PackedBatch, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    unfused, fused, batch, _ = twins
    calls = _count_fused_calls(monkeypatch)
    expected = _loss_and_grads(unfused, batch, torch.bfloat16)
    actual = _loss_and_grads(fused, batch, torch.bfloat16)
    assert calls[0] == 0
    assert actual[0] == expected[0]
    for name, grad in expected[1].items():
        torch.testing.assert_close(actual[1][name], grad, atol=0, rtol=0, msg=name)


def test_fused_layers_fall_back_when_adapters_are_disabled_or_merged(
    twins: tuple[Any, Any, PackedBatch, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    unfused, fused, batch, _ = twins
    calls = _count_fused_calls(monkeypatch)
    ids = batch.input_ids[:, :32]

    def logits(model: Any) -> torch.Tensor:
        out: torch.Tensor = model(input_ids=ids, use_cache=False).logits
        return out.detach()

    with unfused.disable_adapter(), fused.disable_adapter():
        plain = logits(fused)
        torch.testing.assert_close(plain, logits(unfused), atol=0, rtol=0)
    assert calls[0] == 0
    adapted = logits(fused)
    assert calls[0] > 0 and not torch.allclose(adapted, plain)
    calls[0] = 0
    with torch.no_grad():
        fused.merge_adapter()
        torch.testing.assert_close(logits(fused), adapted, atol=1e-5, rtol=1e-4)
        fused.unmerge_adapter()
    assert calls[0] == 0


def test_layers_with_dropout_are_fused_and_match_peft_under_the_same_masks(
    tiny_model_dir: Path, small_chat_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lora = LoraSettings(rank=8, alpha=16, dropout=0.1)
    config = _config(tiny_model_dir, small_chat_file, tmp_path, lora=lora)
    loaded = _load_unfused(config, monkeypatch)
    unfused = _with_nonzero_lora_b(loaded.model, seed=2)
    fused = copy.deepcopy(unfused)
    assert fuse_lora_layers(fused) == len(_lora_layers(fused))
    batch = _packed_batch(loaded, small_chat_file)
    calls = _count_fused_calls(monkeypatch)
    unfused.train(), fused.train()

    # The same RNG state draws the same dropout masks in peft's layers and in ours.
    torch.manual_seed(3)
    expected = _loss_and_grads(unfused, batch)
    torch.manual_seed(3)
    actual = _loss_and_grads(fused, batch)
    assert calls[0] == len(_lora_layers(fused))
    _assert_same(expected, actual)
    # Dropout really acts: another draw gives another loss.
    torch.manual_seed(4)
    assert _loss_and_grads(fused, batch)[0] != pytest.approx(actual[0], rel=1e-7)

    optimizer = torch.optim.AdamW([p for p in fused.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(4):
        loss, _ = _loss_and_grads(fused, batch)
        optimizer.step()
        losses.append(loss)
    assert losses[-1] < losses[0]


def test_quantized_path_is_not_fused(
    tiny_model_dir: Path, small_chat_file: Path, tmp_path: Path
) -> None:
    config = _config(tiny_model_dir, small_chat_file, tmp_path, quantization="nf4")
    model = load_for_training(config).model
    assert any(hasattr(m, "lora_A") for m in model.modules())  # peft's bitsandbytes LoRA layers
    assert not any(isinstance(m, FusedLoraLinear) for m in model.modules())


def test_training_with_fused_layers_saves_an_adapter_peft_loads_back(
    tiny_model_dir: Path, small_chat_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trained: list[Any] = []

    def keep_model(model: Any, tokenizer: Any, directory: Path) -> Path:
        trained.append(model)
        return save_adapter(model, tokenizer, directory)

    monkeypatch.setattr(loop, "save_adapter", keep_model)
    calls = _count_fused_calls(monkeypatch)
    seen: list[ProgressMetrics] = []
    config = _config(
        tiny_model_dir,
        small_chat_file,
        tmp_path,
        epochs=3,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        progress_every=1,
    )
    result = run_training(config, TrainingCallbacks(on_progress=seen.append))

    assert result.outcome == "succeeded" and result.path_description == "lora fp32 on cpu"
    assert result.steps_completed >= 6 and calls[0] > 0
    assert seen[-1].train_loss < 0.8 * seen[0].train_loss
    model = trained[0]
    assert sum(isinstance(m, FusedLoraLinear) for m in model.modules()) == len(_lora_layers(model))

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    assert result.adapter_dir is not None
    base: Any = AutoModelForCausalLM.from_pretrained(str(tiny_model_dir))
    reloaded: Any = PeftModel.from_pretrained(base, str(result.adapter_dir))
    ids = torch.tensor([[1, 5, 9, 14, 20, 33, 41, 57]])
    calls[0] = 0
    model.train()  # the fused path: training mode, grad enabled
    ours = model(input_ids=ids, use_cache=False).logits.detach()
    assert calls[0] > 0
    with torch.no_grad():
        theirs = reloaded(input_ids=ids, use_cache=False).logits
        with reloaded.disable_adapter():
            assert not torch.allclose(theirs, reloaded(input_ids=ids, use_cache=False).logits)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
