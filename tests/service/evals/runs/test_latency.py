"""A completion's latency is the wall time of the call itself, and a run's p50/p95 are numpy's
linear-interpolation percentiles of its items' latencies (figures checked by hand)."""

from __future__ import annotations

from typing import Any

from providers.base import ChatCompletion, ChatRequest
from service.evals.runs.latency import latency_summary, timed


def test_timed_records_the_calls_wall_time_in_ms() -> None:
    ticks = iter([10.0, 10.25])  # the call starts at 10 s and returns at 10.25 s
    calls: list[str] = []

    def answer(request: ChatRequest) -> ChatCompletion:
        calls.append(request.model)
        return ChatCompletion(request.model, "ok")

    done = timed(answer, clock=ticks.__next__)(ChatRequest(model="m", messages=[]))
    assert (done.text, done.latency_ms, calls) == ("ok", 250.0, ["m"])


def test_p50_and_p95_of_the_samples_that_were_timed() -> None:
    # 10, 20, ..., 100 ms: p50 between the 5th and 6th = 55; p95 at rank 0.95 x 9 = 8.55,
    # 90 + 0.55 x (100 - 90) = 95.5
    samples: list[dict[str, Any] | None] = [{"latency_ms": 10.0 * n} for n in range(1, 11)]
    samples += [None, {"output": []}, {"latency_ms": None}]  # nothing sampled, or untimed
    assert latency_summary(samples) == {"p50": 55.0, "p95": 95.5, "n": 10}
    assert latency_summary([None, {"latency_ms": None}]) is None
