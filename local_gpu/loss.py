"""Forward pass and losses for packed batches.

The LM head runs only on positions that have a target, so the full [tokens, vocab] logits
tensor (the largest activation for big vocabularies) is never built. Because the head runs by
hand, the model's own logit transformations (Granite's ``logits_scaling``, Cohere's
``logit_scale``, Gemma's final soft-capping) are applied here, as the model's forward does.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from local_gpu.packing import PackedBatch


def _autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[Any]:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def model_logits(config: Any, logits: torch.Tensor) -> torch.Tensor:
    """The logits the model's own forward returns, from the bare LM head output (float)."""
    scaling = getattr(config, "logits_scaling", None)  # Granite family: divides
    if scaling:
        logits = logits / scaling
    scale = getattr(config, "logit_scale", None)  # Cohere family: multiplies
    if isinstance(scale, int | float) and scale:
        logits = logits * scale
    softcap = getattr(config, "final_logit_softcapping", None)  # Gemma 2/3
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return logits


@dataclass(frozen=True)
class TargetLogits:
    logits: torch.Tensor  # [targets, vocab], float32
    targets: torch.Tensor  # [targets]
    owners: torch.Tensor  # [targets]: which collated example each target belongs to


def uses_segment_attention(model: Any) -> bool:
    """Whether the model's attention is segment_attention.py's (it reads the batch's segments:
    masks other than causal, e.g. a DPO prompt shared by two replies, need it)."""
    from local_gpu.segment_attention import SEGMENT_ATTENTION  # imports transformers

    config = model.get_base_model().config
    return bool(config._attn_implementation == SEGMENT_ATTENTION)


def target_logits(
    model: Any, batch: PackedBatch, device: torch.device, autocast_dtype: torch.dtype | None
) -> TargetLogits:
    """Logits at every position that has a target (the next token carries a label)."""
    causal_lm = model.get_base_model()
    decoder, head = causal_lm.get_decoder(), causal_lm.get_output_embeddings()
    input_ids = batch.input_ids.to(device, non_blocking=True)
    position_ids = batch.position_ids.to(device, non_blocking=True)
    segments: dict[str, Any] = {}
    if uses_segment_attention(model):
        segments["segment_lengths"] = batch.segment_lengths
        segments["segment_masks"] = [
            [None if mask is None else mask.to(device) for mask in row]
            for row in batch.segment_masks
        ]
    elif any(mask is not None for row in batch.segment_masks for mask in row):
        raise ValueError("segments with their own attention masks need segment attention")
    target_index = batch.target_index.to(device, non_blocking=True)
    predict_index = batch.predict_index.to(device, non_blocking=True)
    with _autocast(device, autocast_dtype):
        # use_cache=False matters: with a cache, transformers ignores position_ids when it
        # builds the mask and packed examples would attend to each other.
        hidden = decoder(
            input_ids=input_ids, position_ids=position_ids, use_cache=False, **segments
        ).last_hidden_state
        logits = head(hidden.reshape(-1, hidden.shape[-1]).index_select(0, predict_index))
    targets = batch.labels.to(device, non_blocking=True).reshape(-1).index_select(0, target_index)
    owners = batch.owners.to(device, non_blocking=True).reshape(-1).index_select(0, target_index)
    return TargetLogits(model_logits(causal_lm.config, logits.float()), targets, owners)


def summed_token_loss(
    model: Any, batch: PackedBatch, device: torch.device, autocast_dtype: torch.dtype | None
) -> torch.Tensor:
    """Sum of cross-entropy over the batch's supervised tokens."""
    found = target_logits(model, batch, device, autocast_dtype)
    return F.cross_entropy(found.logits, found.targets, reduction="sum")


@dataclass(frozen=True)
class TokenStats:
    loss_sum: torch.Tensor  # differentiable
    correct: int  # targets whose argmax is the target (mean token accuracy's numerator)


def token_stats(
    model: Any, batch: PackedBatch, device: torch.device, autocast_dtype: torch.dtype | None
) -> TokenStats:
    found = target_logits(model, batch, device, autocast_dtype)
    loss = F.cross_entropy(found.logits, found.targets, reduction="sum")
    correct = int((found.logits.detach().argmax(-1) == found.targets).sum().item())
    return TokenStats(loss, correct)


def sequence_logps(
    model: Any,
    batch: PackedBatch,
    sequences: int,
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> torch.Tensor:
    """[sequences]: each collated example's summed log-probability of its labelled tokens."""
    found = target_logits(model, batch, device, autocast_dtype)
    token_logps = -F.cross_entropy(found.logits, found.targets, reduction="none")
    totals = torch.zeros(sequences, device=token_logps.device, dtype=token_logps.dtype)
    return totals.index_add(0, found.owners, token_logps)


@torch.no_grad()
def mean_loss(
    model: Any,
    batches: list[PackedBatch],
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> float:
    return evaluate_tokens(model, batches, device, autocast_dtype)[0]


@torch.no_grad()
def evaluate_tokens(
    model: Any,
    batches: list[PackedBatch],
    device: torch.device,
    autocast_dtype: torch.dtype | None,
) -> tuple[float, float]:
    """(mean loss, mean token accuracy) over the batches' supervised tokens, in eval mode."""
    was_training = model.training
    model.eval()
    loss = 0.0
    correct = 0
    try:
        for batch in batches:
            stats = token_stats(model, batch, device, autocast_dtype)
            loss += stats.loss_sum.item()
            correct += stats.correct
    finally:
        model.train(was_training)
    supervised = max(sum(b.supervised_tokens for b in batches), 1)
    return loss / supervised, correct / supervised
