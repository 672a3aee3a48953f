"""The micro-batcher: concurrent one-at-a-time requests are generated together and each caller
gets its own answer, the same tokens greedy decoding gives it alone; each request's token limit
is honoured; a failure reaches every caller of its batch; an idle batcher lets its thread go and
starts another on the next request."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from local_gpu.batcher import MicroBatcher
from local_gpu.errors import LocalTrainingError
from local_gpu.generate import Generation, GenerationConfig, LocalGenerator

QUESTIONS = [
    "Where does Ada live?",
    "Tell me about Linus and the city of Oslo, and what he does there every day.",
    "Hi",
    "Which city is Grace from?",
    "Name a city.",
    "List 4 colors for Ken.",
    "How does Dennis get to Lima?",
    "Where is Riga?",
]
CONVERSATIONS = [[{"role": "user", "content": q}] for q in QUESTIONS]


@pytest.fixture(scope="module")
def generator(tiny_model_dir: Path) -> LocalGenerator:
    return LocalGenerator(GenerationConfig(tiny_model_dir, device="cpu", batch_size=8))


def _ask_together(
    batcher: MicroBatcher, conversations: Sequence[Sequence[dict[str, Any]]], limits: list[int]
) -> list[Any]:
    start = threading.Barrier(len(conversations))

    def ask(index: int) -> Any:
        start.wait()
        return batcher.submit(conversations[index], limits[index])

    with ThreadPoolExecutor(max_workers=len(conversations)) as pool:
        return list(pool.map(ask, range(len(conversations))))


def test_concurrent_requests_are_batched_and_answered_as_if_alone(
    generator: LocalGenerator,
) -> None:
    batcher = MicroBatcher(generator.generate, max_batch=8, max_wait_s=1.0)
    together = _ask_together(batcher, CONVERSATIONS, [10] * len(CONVERSATIONS))
    alone = [generator.generate([c], 10)[0] for c in CONVERSATIONS]
    assert together == alone  # same text, token counts and finish reasons, in the order asked
    assert batcher.stats.requests == len(CONVERSATIONS)
    assert batcher.stats.batches < len(CONVERSATIONS)


def test_each_request_keeps_its_own_token_limit(generator: LocalGenerator) -> None:
    batcher = MicroBatcher(generator.generate, max_batch=8, max_wait_s=1.0)
    limits = [3, 9, 3, 9]
    answers: list[Generation] = _ask_together(batcher, CONVERSATIONS[:4], limits)
    for answer, limit, conversation in zip(answers, limits, CONVERSATIONS, strict=False):
        assert answer.completion_tokens <= limit
        assert answer == generator.generate([conversation], limit)[0]


def test_a_failure_reaches_every_caller_of_its_batch() -> None:
    def broken(conversations: Sequence[Any], limit: int) -> list[Any]:
        raise LocalTrainingError("the model fell over")

    batcher = MicroBatcher(broken, max_batch=4, max_wait_s=1.0)

    def ask(_: int) -> str:
        try:
            batcher.submit([{"role": "user", "content": "hi"}], 4)
        except LocalTrainingError as exc:
            return str(exc)
        return "answered"

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(ask, range(4))) == ["the model fell over"] * 4


def test_an_idle_batcher_lets_its_thread_go_and_starts_again(generator: LocalGenerator) -> None:
    batcher = MicroBatcher(generator.generate, max_batch=2, max_wait_s=0.0, idle_s=0.01)
    first = batcher.submit(CONVERSATIONS[0], 5)
    for _ in range(10_000):
        if not batcher.serving:
            break
        threading.Event().wait(0.01)
    assert not batcher.serving
    assert batcher.submit(CONVERSATIONS[0], 5) == first
    assert batcher.stats.batches == 2


def test_bounds_are_checked(generator: LocalGenerator) -> None:
    with pytest.raises(LocalTrainingError, match="max_batch"):
        MicroBatcher(generator.generate, max_batch=0)
    with pytest.raises(LocalTrainingError, match="max_wait_s"):
        MicroBatcher(generator.generate, max_wait_s=5.0)


def test_at_exit_every_serving_thread_ends_first(generator: LocalGenerator) -> None:
    """A daemon thread that ran torch and was still waiting at interpreter exit sometimes made
    the process abort (C++ terminate, rc 134): the exit hook ends them before finalization."""
    from local_gpu import batcher as module

    micro = MicroBatcher(generator.generate, idle_s=600)
    micro.submit(CONVERSATIONS[0], 3)
    assert micro.serving
    module._stop_all()  # what atexit runs
    assert not micro.serving
    with pytest.raises(LocalTrainingError, match="shutting down"):
        micro.submit(CONVERSATIONS[0], 3)
