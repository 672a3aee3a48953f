from __future__ import annotations

from pathlib import Path

import torch

from local_gpu.config import TrainingConfig
from local_gpu.data import load_examples
from local_gpu.loading import load_for_training
from local_gpu.loss import summed_token_loss
from local_gpu.packing import collate_rows
from local_gpu.segment_attention import SEGMENT_ATTENTION, segment_lengths


def test_segments_start_wherever_the_position_restarts_at_zero() -> None:
    positions = torch.tensor([[0, 1, 2, 0, 1, 0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 0, 1, 2]])
    assert segment_lengths(positions) == [[3, 2, 4], [6, 3]]
    # A row that does not start at 0 (a continuation) is still one segment from its start.
    assert segment_lengths(torch.tensor([[5, 6, 0, 1]])) == [[2, 2]]


def test_packed_gradients_equal_the_sum_of_separate_gradients(
    tiny_model_dir: Path, small_chat_file: Path
) -> None:
    config = TrainingConfig(
        model_dir=tiny_model_dir,
        train_file=small_chat_file,
        output_dir=Path("unused"),
        quantization="none",
    )
    loaded = load_for_training(config)
    loaded.model.eval()  # no LoRA dropout: gradients must be deterministic
    assert loaded.model.get_base_model().config._attn_implementation == SEGMENT_ATTENTION
    examples = load_examples(small_chat_file, loaded.tokenizer, 256).examples[:5]
    trainable = [p for p in loaded.model.parameters() if p.requires_grad]
    # LoRA B starts at zero, which would leave A without gradient: give B some weight.
    torch.manual_seed(0)
    with torch.no_grad():
        for parameter in trainable:
            parameter.normal_(std=0.05)

    def gradients(rows: list[list[int]]) -> list[torch.Tensor]:
        loaded.model.zero_grad(set_to_none=True)
        batch = collate_rows(rows, examples)
        summed_token_loss(loaded.model, batch, loaded.device, None).backward()  # type: ignore[no-untyped-call]
        return [torch.as_tensor(p.grad).clone() for p in trainable]

    packed = gradients([[0, 1, 2], [3, 4]])
    separate = [gradients([[i]]) for i in range(len(examples))]
    for index, gradient in enumerate(packed):
        expected = sum(alone[index] for alone in separate)
        assert torch.allclose(gradient, torch.as_tensor(expected), atol=1e-5, rtol=1e-4)
