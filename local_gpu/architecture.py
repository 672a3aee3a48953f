"""What a model's architecture allows the trainer to do: packing several examples into one row
is exact only when every layer that mixes tokens is attention that honours the per-example
position resets. Linear-attention, state-space and recurrent layers (Qwen3-Next's gated
delta net, Mamba, RWKV...) carry a state from one token to the next that would flow from one
packed example into the next, so such models train one example per row."""

from __future__ import annotations

from typing import Any

STATEFUL_MODEL_TYPES = frozenset(
    {
        "bamba",
        "falcon_h1",
        "falcon_mamba",
        "granitemoehybrid",
        "jamba",
        "lfm2",
        "lfm2_moe",
        "mamba",
        "mamba2",
        "minimax",
        "nemotron_h",
        "plamo2",
        "qwen3_next",
        "recurrent_gemma",
        "rwkv",
        "zamba",
        "zamba2",
    }
)


def _is_attention(layer_type: str) -> bool:
    return "attention" in layer_type and "linear" not in layer_type


def packing_blocker(config: Any) -> str | None:
    """Why rows must hold one example each for this model config, or None when packing is exact."""
    model_type = str(getattr(config, "model_type", "") or "")
    for attribute in ("layer_types", "layers_block_type"):
        layer_types = getattr(config, attribute, None)
        if isinstance(layer_types, list | tuple):
            others = sorted({str(t) for t in layer_types if not _is_attention(str(t))})
            if others:
                return f"{model_type} has {', '.join(others)} layers"
    if model_type in STATEFUL_MODEL_TYPES:
        return f"{model_type} has layers that carry state from token to token"
    return None
