"""Exact attention for packed rows without a dense block-diagonal mask.

Transformers keeps packed examples apart under SDPA by building a [rows, 1, L, L] mask from
position_ids, which also rules out SDPA's fast causal kernel: attention then costs O(L^2) per
row however short the examples are. Here each example (a run of positions starting at 0) gets
its own causal SDPA call instead, so the cost is the sum of squared example lengths and no
mask is built. A segment may bring its own small [length, length] mask instead of plain
causal attention (a DPO prompt followed by two replies that each see the prompt but not each
other): the caller passes `segment_lengths` and `segment_masks` per row through the model's
forward kwargs. Anything that is not a packed training forward (a padding mask, a KV cache)
goes to the stock SDPA path unchanged.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

SEGMENT_ATTENTION = "tuneforge_segments"


def segment_lengths(position_ids: torch.Tensor) -> list[list[int]]:
    """Per row, the lengths of its examples: a new example starts wherever the position is 0."""
    rows: list[list[int]] = []
    for row in position_ids.tolist():
        starts = [i for i, position in enumerate(row) if position == 0] or [0]
        if starts[0] != 0:
            starts.insert(0, 0)
        rows.append(
            [end - start for start, end in zip(starts, [*starts[1:], len(row)], strict=True)]
        )
    return rows


def _segment_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    lengths: list[list[int]] | None = kwargs.get("segment_lengths")
    masks: list[list[torch.Tensor | None]] | None = kwargs.get("segment_masks")
    position_ids: torch.Tensor | None = kwargs.get("position_ids")
    packed_forward = attention_mask is None and query.shape[2] == key.shape[2] > 1
    if not packed_forward or (lengths is None and position_ids is None):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout, scaling, **kwargs
        )
    if lengths is None:
        assert position_ids is not None
        lengths = segment_lengths(position_ids.expand(query.shape[0], -1))
    grouped = query.shape[1] != key.shape[1]
    outputs = []
    for row, row_lengths in enumerate(lengths):
        row_masks = masks[row] if masks is not None else [None] * len(row_lengths)
        # split (not slicing) so the backward pass concatenates instead of summing zero-filled
        # full-size gradients, one per example.
        pieces = zip(
            torch.split(query[row : row + 1], row_lengths, dim=2),
            torch.split(key[row : row + 1], row_lengths, dim=2),
            torch.split(value[row : row + 1], row_lengths, dim=2),
            row_masks,
            strict=True,
        )
        outputs.append(
            torch.cat(
                [
                    F.scaled_dot_product_attention(
                        q,
                        k,
                        v,
                        attn_mask=mask,
                        dropout_p=dropout,
                        is_causal=mask is None,
                        scale=scaling,
                        enable_gqa=grouped,
                    )
                    for q, k, v, mask in pieces
                ],
                dim=2,
            )
        )
    return torch.cat(outputs, dim=0).transpose(1, 2).contiguous(), None


def _segment_mask(**kwargs: Any) -> torch.Tensor | None:
    # Packed rows need no mask: _segment_attention keeps examples apart itself.
    if kwargs.get("attention_mask") is None:
        return None
    return sdpa_mask(**kwargs)


def register_segment_attention() -> str:
    """Register the attention (idempotent) and return the name to pass to transformers."""
    AttentionInterface.register(SEGMENT_ATTENTION, _segment_attention)
    AttentionMaskInterface.register(SEGMENT_ATTENTION, _segment_mask)
    return SEGMENT_ATTENTION
