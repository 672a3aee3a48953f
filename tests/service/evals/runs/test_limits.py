"""The per-provider cap on chat completions in flight, across runs in one process."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from providers.base import ChatCompletion, ChatRequest
from service.evals.runs.limits import limited


def test_no_more_than_the_limit_are_in_flight_for_one_provider() -> None:
    lock, in_flight, peak = threading.Lock(), [0], [0]
    release = threading.Event()
    entered = threading.Semaphore(0)

    def slow(request: ChatRequest) -> ChatCompletion:
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        entered.release()
        release.wait(timeout=30)
        with lock:
            in_flight[0] -= 1
        return ChatCompletion(model=request.model, text="ok")

    # two runs' completers for the same provider share its three slots
    first, second = limited("p-test", 3, slow), limited("p-test", 3, slow)
    other = limited("q-test", 3, slow)
    request = ChatRequest(model="m", messages=[])
    with ThreadPoolExecutor(max_workers=12) as pool:
        futures = [pool.submit(first if n % 2 else second, request) for n in range(8)]
        for _ in range(3):
            assert entered.acquire(timeout=10)
        futures.append(pool.submit(other, request))  # another provider is not held up
        assert entered.acquire(timeout=10)
        release.set()
        assert all(f.result(timeout=30).text == "ok" for f in futures)
    assert peak[0] == 4  # three of p-test (the other five waited for a slot) and one of q-test
