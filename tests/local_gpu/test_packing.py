from __future__ import annotations

from pathlib import Path

import pytest
import torch

from local_gpu.config import TrainingConfig
from local_gpu.data import TokenizedExample, load_examples
from local_gpu.loading import TrainingModel, load_for_training
from local_gpu.loss import summed_token_loss
from local_gpu.packing import StepPlan, collate_rows, pack_rows


def test_best_fit_decreasing_fills_rows_without_overflow() -> None:
    lengths = [70, 50, 40, 30, 30, 20, 10, 5, 100]
    rows = pack_rows(lengths, capacity=100)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= 100 for row in rows)
    assert len(rows) == 4  # 355 tokens need at least 4 rows of 100


def test_plan_covers_every_row_once_per_epoch() -> None:
    plan = StepPlan(rows=[[i] for i in range(10)], rows_per_batch=3, accumulation=2, seed=1)
    assert plan.steps_per_epoch == 2
    for epoch in range(2):
        seen = [r[0] for s in range(2) for micro in plan.step(epoch, s) for r in micro]
        assert sorted(seen) == list(range(10))
    assert plan.step(0, 0) != plan.step(1, 0)


@pytest.fixture(scope="module")
def lora_model(tiny_model_dir: Path, small_chat_file: Path) -> TrainingModel:
    config = TrainingConfig(
        model_dir=tiny_model_dir,
        train_file=small_chat_file,
        output_dir=Path("unused"),
        quantization="none",
    )
    loaded = load_for_training(config)
    loaded.model.eval()
    return loaded


@pytest.fixture(scope="module")
def examples(lora_model: TrainingModel, small_chat_file: Path) -> list[TokenizedExample]:
    return load_examples(small_chat_file, lora_model.tokenizer, 256).examples[:6]


@torch.no_grad()
def test_packed_examples_never_attend_to_each_other(
    lora_model: TrainingModel, examples: list[TokenizedExample]
) -> None:
    decoder = lora_model.model.get_base_model().get_decoder()
    head = lora_model.model.get_base_model().get_output_embeddings()
    packed = collate_rows([list(range(len(examples)))], examples)

    def logits(ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        out = decoder(input_ids=ids, position_ids=positions, use_cache=False)
        return torch.as_tensor(head(out.last_hidden_state))

    together = logits(packed.input_ids, packed.position_ids)[0]
    alone = torch.cat(
        [
            logits(torch.tensor([e.input_ids]), torch.arange(len(e.input_ids))[None])[0]
            for e in examples
        ]
    )
    assert together.shape == alone.shape
    assert (together - alone).abs().max().item() < 1e-4
    # Same tokens without the position reset do attend across examples: the check has teeth.
    width = packed.input_ids.shape[1]
    leaky = logits(packed.input_ids, torch.arange(width)[None])[0]
    assert (leaky - alone).abs().max().item() > 0.1


@torch.no_grad()
def test_packed_loss_equals_the_sum_of_separate_losses(
    lora_model: TrainingModel, examples: list[TokenizedExample]
) -> None:
    def loss(rows: list[list[int]]) -> float:
        batch = collate_rows(rows, examples)
        return summed_token_loss(lora_model.model, batch, lora_model.device, None).item()

    # Two rows of different fill, so the shorter one ends in label-free filler.
    packed = loss([[0, 1, 2, 3], [4, 5]])
    separate = sum(loss([[i]]) for i in range(len(examples)))
    assert packed == pytest.approx(separate, rel=1e-5)
