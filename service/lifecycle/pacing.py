"""Backoff after a transient failure, for every kind: doubling waits with jitter, capped, and
never sooner than a Retry-After the other side asked for."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from service.settings import Settings


def backoff_s(failures: int, settings: Settings, retry_after: float | None = None) -> float:
    low, high = settings.job_poll_min_s, max(settings.job_poll_max_s, settings.job_poll_min_s)
    delay = min(high, low * 2 ** min(max(failures - 1, 0), 16))
    delay *= random.uniform(0.8, 1.2)  # spread a storm's retries apart
    return float(max(delay, retry_after or 0.0))


def after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
