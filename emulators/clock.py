"""The one clock every emulator's timeline reads.

``SystemClock`` (the default) is the machine's time. ``ManualClock`` stands still until a test
calls ``advance(seconds)``: every job phase, step, finish estimate, webhook scan and webhook
retry delay of an emulator built with it moves only then, so a test states *when* something
happens instead of sleeping and hoping the box is quiet.

``advance`` runs the clock's listeners on the caller's thread before it returns (the OpenAI
emulator's webhook pusher scans for jobs that became terminal there), and wakes every
``sleep`` whose deadline has come. ``wait_for_sleepers(n)`` blocks until ``n`` coroutines are
asleep on the clock (e.g. a webhook delivery waiting for its retry), so that a test advances
only once they wait.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Wall time, seconds since the epoch."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (phases and deadlines are measured on it)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


@dataclass
class _Sleeper:
    deadline: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[None]


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class ManualClock:
    """Time that moves only by ``advance``; safe to advance from any thread. Its wall time
    starts at the machine's (or ``start``), so signatures checked against real time still pass."""

    def __init__(self, start: float | None = None) -> None:
        self._start = time.time() if start is None else start
        self._elapsed = 0.0
        self._cond = threading.Condition()
        self._sleepers: list[_Sleeper] = []
        self.listeners: list[Callable[[], None]] = []
        """Run on the advancing thread after each advance (and after the due sleepers woke)."""

    def time(self) -> float:
        with self._cond:
            return self._start + self._elapsed

    def monotonic(self) -> float:
        with self._cond:
            return self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock never goes back")
        with self._cond:
            self._elapsed += seconds
            due = [s for s in self._sleepers if s.deadline <= self._elapsed]
            self._sleepers = [s for s in self._sleepers if s.deadline > self._elapsed]
            self._cond.notify_all()
        for sleeper in due:
            sleeper.loop.call_soon_threadsafe(_wake, sleeper.future)
        for listener in list(self.listeners):
            listener()

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        sleeper = _Sleeper(0.0, loop, loop.create_future())
        with self._cond:
            sleeper.deadline = self._elapsed + seconds
            self._sleepers.append(sleeper)
            self._cond.notify_all()
        try:
            await sleeper.future
        finally:
            with self._cond:
                if sleeper in self._sleepers:  # cancelled before its time
                    self._sleepers.remove(sleeper)
                    self._cond.notify_all()

    def sleepers(self) -> int:
        with self._cond:
            return len(self._sleepers)

    def wait_for_sleepers(self, count: int, timeout: float = 10.0) -> None:
        """Block until at least ``count`` coroutines sleep on this clock (TimeoutError if not
        within ``timeout`` real seconds: a bug, never a slow box, at any sane timeout)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._sleepers) >= count, timeout):
                raise TimeoutError(f"{len(self._sleepers)} of {count} sleepers after {timeout}s")
