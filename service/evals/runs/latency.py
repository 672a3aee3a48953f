"""Per-request latency of the model calls a run makes: each completion is timed around the
inference call itself (a provider adapter's call inside its concurrency slot, so waiting for a
slot is not counted; a local model's generation, micro-batching wait included, as a caller
sees it), stored with its output item as ``sample.latency_ms``, and summarised as the run's
p50/p95 (numpy's percentiles, linear interpolation)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

import numpy as np

from providers.base import ChatCompletion, ChatRequest

Complete = Callable[[ChatRequest], ChatCompletion]


def timed(complete: Complete, clock: Callable[[], float] = time.perf_counter) -> Complete:
    """``complete`` whose answer carries the wall time of the call in ``latency_ms``."""

    def call(request: ChatRequest) -> ChatCompletion:
        start = clock()
        done = complete(request)
        return replace(done, latency_ms=round((clock() - start) * 1000.0, 3))

    return call


def latency_summary(samples: Iterable[dict[str, Any] | None]) -> dict[str, Any] | None:
    """``{p50, p95, n}`` in ms over the samples that carry a ``latency_ms``; None when none
    does (a run grading supplied samples calls no model)."""
    values = [
        float(sample["latency_ms"])
        for sample in samples
        if isinstance(sample, dict) and isinstance(sample.get("latency_ms"), int | float)
    ]
    if not values:
        return None
    p50, p95 = np.percentile(np.asarray(values, dtype=float), [50, 95])
    return {"p50": round(float(p50), 3), "p95": round(float(p95), 3), "n": len(values)}
