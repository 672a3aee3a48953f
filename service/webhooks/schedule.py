"""When to try a failed delivery again: the Standard Webhooks style schedule (≈ 5 s, 5 min,
30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), a little jitter so that an outage's backlog does not
arrive at the receiver all at once, and a receiver's ``Retry-After`` respected."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

JITTER_FRACTION = 0.1
MAX_RETRY_AFTER_S = 24 * 3600


def retry_delay_s(
    attempts_made: int,
    schedule_s: Sequence[int],
    *,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds to wait after the ``attempts_made``-th failed attempt of a cycle (1-based), or
    None when the schedule is exhausted and the delivery should be given up."""
    if attempts_made < 1:
        raise ValueError("attempts_made counts attempts already made, starting at 1")
    if attempts_made > len(schedule_s):
        return None
    base = float(schedule_s[attempts_made - 1])
    jitter = (rng or random).uniform(-JITTER_FRACTION, JITTER_FRACTION) * base
    delay = max(0.0, base + jitter)
    if retry_after_s is not None:
        delay = max(delay, min(float(retry_after_s), MAX_RETRY_AFTER_S))
    return delay


def next_attempt_at(
    now: datetime,
    attempts_made: int,
    schedule_s: Sequence[int],
    *,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    delay = retry_delay_s(attempts_made, schedule_s, retry_after_s=retry_after_s, rng=rng)
    return None if delay is None else now + timedelta(seconds=delay)
