"""Rough training-time estimates from a small table of measured throughputs.

Throughput scales roughly with 1 / parameters (LoRA costs ~4 FLOPs per parameter per token
whatever the model), so a measured anchor is rescaled to the model at hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ThroughputAnchor:
    device: str
    parameters: int
    tokens_per_second: float
    source: str


THROUGHPUT_TABLE: tuple[ThroughputAnchor, ...] = (
    # Measured here (bench/local_train.py and shared/LOCAL_TRAINING.md), 2 vCPU Zen 4, fp32 LoRA.
    ThroughputAnchor("cpu", 4_300_000, 4_200.0, "measured: tiny Llama, packed, 2 cores"),
    ThroughputAnchor("cpu", 80_900_000, 354.0, "measured: 80M Llama, packed, 2 cores"),
    # Published, not measured by us: torchtune QLoRA Llama-3.1-8B on one RTX 4090.
    ThroughputAnchor("cuda", 8_000_000_000, 2_413.0, "published: torchtune QLoRA 8B, RTX 4090"),
)

DEFAULT_PARAMETERS = {"cpu": 4_300_000, "cuda": 8_000_000_000}


def tokens_per_second(device: str, parameters: int | None = None) -> float:
    kind = "cuda" if device.startswith("cuda") else "cpu"
    size = parameters or DEFAULT_PARAMETERS[kind]
    anchors = [a for a in THROUGHPUT_TABLE if a.device == kind]
    nearest = min(anchors, key=lambda a: abs(math.log(a.parameters / size)))
    return nearest.tokens_per_second * nearest.parameters / size


def estimate_seconds(tokens: int, epochs: int, device: str, parameters: int | None = None) -> float:
    """Seconds to train `tokens` (real tokens per epoch) for `epochs` on `device`."""
    if tokens < 0 or epochs < 1:
        raise ValueError("tokens must be >= 0 and epochs >= 1")
    return tokens * epochs / tokens_per_second(device, parameters)
