"""How soon a job's next step is due: fast while it is queued or just started, slower as a
run goes on, backing off after provider errors (and never sooner than a Retry-After)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from service.db.models import Job
from service.jobs.transitions import RUNNING
from service.settings import Settings

RUN_TIME_DIVISOR = 10.0
"""While running, poll about every tenth of the time it has run so far (a 10-minute-old run
every minute), so a long job costs a few dozen calls per hour whatever its length."""


def poll_interval_s(job: Job, now: datetime, settings: Settings) -> float:
    low, high = settings.job_poll_min_s, max(settings.job_poll_max_s, settings.job_poll_min_s)
    if job.status != RUNNING or job.started_at is None:
        return low
    running_for = (now - job.started_at).total_seconds()
    return min(max(running_for / RUN_TIME_DIVISOR, low), high)


def backoff_s(failures: int, settings: Settings, retry_after: float | None = None) -> float:
    low, high = settings.job_poll_min_s, max(settings.job_poll_max_s, settings.job_poll_min_s)
    delay = min(high, low * 2 ** min(max(failures - 1, 0), 16))
    delay *= random.uniform(0.8, 1.2)  # spread a storm's retries apart
    return float(max(delay, retry_after or 0.0))


def after(now: datetime, seconds: float) -> datetime:
    return now + timedelta(seconds=seconds)
