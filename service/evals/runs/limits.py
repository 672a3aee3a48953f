"""Chat completions in flight per provider, in one worker process, across all its runs: a run's
own concurrency bounds one run; this bounds what several runs together ask of one provider
(whose rate limits are per account), so a busy worker does not turn its runs into 429s."""

from __future__ import annotations

import threading
from collections.abc import Callable

from providers.base import ChatCompletion, ChatRequest

_lock = threading.Lock()
_slots: dict[tuple[str, int], threading.BoundedSemaphore] = {}


def _semaphore(provider: str, limit: int) -> threading.BoundedSemaphore:
    with _lock:
        return _slots.setdefault((provider, limit), threading.BoundedSemaphore(limit))


def limited(
    provider: str, limit: int, complete: Callable[[ChatRequest], ChatCompletion]
) -> Callable[[ChatRequest], ChatCompletion]:
    """``complete`` holding one of the provider's ``limit`` slots while it runs."""
    slots = _semaphore(provider, limit)

    def call(request: ChatRequest) -> ChatCompletion:
        with slots:
            return complete(request)

    return call
