"""Run many items concurrently (bounded), each stored once through the caller's ``store``.

Resumable: items whose index is in ``done`` are skipped (a crashed run resumes from the items
already stored; none is paid for twice). Cancellable: ``cancelled()`` is checked before each
item starts; items already running finish and are stored."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from service.evals.graders.grade import GradingContext
from service.evals.runs.items import Completer, Criterion, ItemOutcome, SamplingPlan, run_item


def execute_items(
    rows: Iterable[tuple[int, dict[str, Any]]],
    criteria: list[Criterion],
    ctx: GradingContext,
    *,
    plan: SamplingPlan | None,
    completer: Completer | None,
    store: Callable[[ItemOutcome], None],
    done: set[int] | frozenset[int] = frozenset(),
    concurrency: int = 8,
    cancelled: Callable[[], bool] = lambda: False,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """True when every item was run (or had been); False when cancelled first."""
    lock = threading.Lock()

    def one(index: int, row: dict[str, Any]) -> None:
        outcome = run_item(index, row, criteria, ctx, plan, completer, sleep)
        with lock:  # the caller's store need not be thread-safe
            store(outcome)

    pending: set[Future[None]] = set()
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for index, row in rows:
            if index in done:
                continue
            while len(pending) >= concurrency:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()
            if cancelled():
                break
            pending.add(pool.submit(one, index, row))
        else:
            for future in pending:
                future.result()
            return True
        for future in pending:
            future.result()
    return False
