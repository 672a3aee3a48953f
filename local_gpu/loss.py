"""Forward pass and loss for packed batches.

The LM head runs only on positions that have a target, so the full [tokens, vocab] logits
tensor (the largest activation for big vocabularies) is never built.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn.functional as F

from local_gpu.data import IGNORE_INDEX
from local_gpu.packing import PackedBatch


def _autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def summed_token_loss(
    model: Any, batch: PackedBatch, device: torch.device, autocast_dtype: torch.dtype | None
) -> torch.Tensor:
    """Sum of cross-entropy over the batch's supervised tokens."""
    causal_lm = model.get_base_model()
    decoder, head = causal_lm.get_decoder(), causal_lm.get_output_embeddings()
    input_ids = batch.input_ids.to(device, non_blocking=True)
    position_ids = batch.position_ids.to(device, non_blocking=True)
    labels = batch.labels.to(device, non_blocking=True)
    with _autocast(device, autocast_dtype):
        # use_cache=False matters: with a cache, transformers ignores position_ids when it
        # builds the mask and packed examples would attend to each other.
        hidden = decoder(
            input_ids=input_ids, position_ids=position_ids, use_cache=False
        ).last_hidden_state
        targets = labels[:, 1:]
        keep = targets != IGNORE_INDEX
        logits = head(hidden[:, :-1][keep])
    logits = logits.float()
    softcap = getattr(causal_lm.config, "final_logit_softcapping", None)
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return F.cross_entropy(logits, targets[keep], reduction="sum")


@torch.no_grad()
def mean_loss(
    model: Any,
    batches: list[PackedBatch],
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> float:
    was_training = model.training
    model.eval()
    try:
        total = sum(summed_token_loss(model, b, device, autocast_dtype).item() for b in batches)
    finally:
        model.train(was_training)
    return total / max(sum(b.supervised_tokens for b in batches), 1)
