"""How soon a sweep runs again: often enough that a job ending without warning is seen within
seconds, rarely enough that listing costs at most ``sweep_list_calls_per_job_hour`` calls per
active job per hour, and never faster than the provider's rate limit allows.

A round costs ``pages`` calls, so listing costs 3600 / (interval × page size) calls per job
per hour once the jobs fill many pages: the page size, more than the interval, decides what a
large fleet costs."""

from __future__ import annotations

import math

from providers.base import RateLimit
from service.settings import Settings

RATE_LIMIT_RESERVE = 2.0
"""Keep this many sweeps' worth of requests in hand: the jobs' own polls share the quota."""


def pages_for(jobs: int, page_size: int) -> int:
    return max(1, math.ceil(jobs / max(page_size, 1)))


def sweep_interval_s(
    settings: Settings, pages: int, jobs: int, rate_limit: RateLimit | None = None
) -> float:
    """Seconds from the start of one round to the next."""
    low = min(settings.sweep_min_interval_s, settings.job_poll_min_s)
    high = max(low, min(settings.sweep_max_interval_s, settings.job_poll_max_s))
    # List calls per hour: the per-job budget, but a one-page round at the floor is always
    # allowed (a few jobs are cheap to list however often).
    budget = max(settings.sweep_list_calls_per_job_hour * max(jobs, 1), 3600.0 / low)
    interval = min(max(3600.0 * pages / budget, low), high)
    low_quota = (
        rate_limit is not None
        and rate_limit.remaining is not None
        and rate_limit.reset_s is not None
        and rate_limit.remaining < RATE_LIMIT_RESERVE * pages
    )
    if low_quota and rate_limit is not None and rate_limit.reset_s is not None:
        # Too little quota left for the next rounds: wait for the window to reset.
        interval = max(interval, rate_limit.reset_s)
    return interval
