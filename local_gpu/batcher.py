"""Micro-batching for callers that ask one conversation at a time from many threads (an eval
run's item executor): requests that arrive together are generated in one batch.

One thread owns the model while requests come: started by the first request, it ends after
``idle_s`` without any, so nothing needs closing (the model goes when its last holder drops
the batcher). It takes the first waiting request, waits at most ``max_wait_s`` for more (or
until ``max_batch`` are waiting; requests that queued up while the previous batch ran are taken
at once), and generates them together: one ``generate`` call per distinct ``max_new_tokens``
among them. When more than ``max_batch`` wait, the batch is the oldest request and those
nearest it in size (``size``, e.g. prompt characters): a batch pads to its longest prompt, so
similar lengths waste less, and the oldest first means none starves. Greedy decoding makes the
answer independent of the batch a request lands in. Imports no torch: ``generate`` is whatever
the caller passes (normally ``LocalGenerator.generate``)."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from local_gpu.errors import LocalTrainingError

Conversation = Sequence[dict[str, Any]]
GenerateFn = Callable[[Sequence[Conversation], int], Sequence[Any]]
SizeFn = Callable[[Conversation], int]

MAX_WAIT_S = 1.0
IDLE_S = 5.0

_live: weakref.WeakSet[MicroBatcher] = weakref.WeakSet()


@atexit.register
def _stop_all() -> None:
    """Let every serving thread end before the interpreter finalizes: a daemon thread that
    ran torch and is still alive at exit makes the process abort (C++ terminate)."""
    for batcher in list(_live):
        batcher.stop()


def content_size(messages: Conversation) -> int:
    """Characters of the messages' text: a cheap stand-in for prompt tokens."""
    return sum(len(str(message.get("content", ""))) for message in messages)


@dataclass
class _Slot:
    messages: Conversation
    max_new_tokens: int
    size: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


@dataclass(frozen=True)
class BatcherStats:
    batches: int
    requests: int

    @property
    def mean_batch(self) -> float:
        return self.requests / self.batches if self.batches else 0.0


class MicroBatcher:
    """``submit`` blocks until its own answer is ready; safe from any number of threads."""

    def __init__(
        self,
        generate: GenerateFn,
        *,
        max_batch: int = 32,
        max_wait_s: float = 0.05,
        idle_s: float = IDLE_S,
        size: SizeFn = content_size,
    ) -> None:
        if max_batch < 1:
            raise LocalTrainingError("max_batch must be at least 1")
        if not 0 <= max_wait_s <= MAX_WAIT_S:
            raise LocalTrainingError(f"max_wait_s must be 0..{MAX_WAIT_S}")
        self._generate = generate
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.idle_s = idle_s
        self._size = size
        self._pending: list[_Slot] = []
        self._ready = threading.Condition()
        self._serving = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._batches = 0
        self._requests = 0

    @property
    def stats(self) -> BatcherStats:
        with self._ready:
            return BatcherStats(self._batches, self._requests)

    def submit(self, messages: Conversation, max_new_tokens: int) -> Any:
        slot = _Slot(messages, max_new_tokens, self._size(messages))
        with self._ready:
            self._pending.append(slot)
            self._ready.notify_all()
            if self._stopping:
                raise LocalTrainingError("the local generator is shutting down")
            if not self._serving:
                self._serving = True
                self._thread = threading.Thread(
                    target=self._serve, name="local-generate", daemon=True
                )
                self._thread.start()
                _live.add(self)
        slot.done.wait()
        if slot.error is not None:
            raise slot.error
        return slot.result

    def stop(self) -> None:
        """Answer what waits, then end the serving thread (no new requests after this)."""
        with self._ready:
            self._stopping = True
            thread = self._thread
            self._ready.notify_all()
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    @property
    def serving(self) -> bool:
        with self._ready:
            return self._serving

    def _next_batch(self) -> list[_Slot] | None:
        with self._ready:
            if not self._pending and not self._stopping:
                self._ready.wait(self.idle_s)
            if not self._pending:
                self._serving = False  # the next submit starts a new thread
                return None
            deadline = time.monotonic() + self.max_wait_s
            while len(self._pending) < self.max_batch and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            batch = self._take()
            self._batches += 1
            self._requests += len(batch)
            return batch

    def _take(self) -> list[_Slot]:
        if len(self._pending) <= self.max_batch:
            batch, self._pending = self._pending, []
            return batch
        oldest = self._pending[0]
        nearest = sorted(
            range(1, len(self._pending)),
            key=lambda i: (abs(self._pending[i].size - oldest.size), i),
        )[: self.max_batch - 1]
        chosen = {0, *nearest}
        batch = [slot for i, slot in enumerate(self._pending) if i in chosen]
        self._pending = [slot for i, slot in enumerate(self._pending) if i not in chosen]
        return batch

    def _serve(self) -> None:
        while (batch := self._next_batch()) is not None:
            for limit in sorted({slot.max_new_tokens for slot in batch}):
                group = [slot for slot in batch if slot.max_new_tokens == limit]
                try:
                    results = self._generate([slot.messages for slot in group], limit)
                    for slot, result in zip(group, results, strict=True):
                        slot.result = result
                except Exception as error:  # handed to every caller of the batch
                    for slot in group:
                        slot.error = error
                for slot in group:
                    slot.done.set()
