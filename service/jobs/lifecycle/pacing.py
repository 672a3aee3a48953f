"""How soon a job's next poll is due: fast while it is queued or just started, slower as a run
goes on. The backoff after errors is the engine's (``service.lifecycle.pacing``)."""

from __future__ import annotations

from datetime import datetime

from service.db.models import Job
from service.jobs.transitions import RUNNING
from service.lifecycle.pacing import after, backoff_s
from service.settings import Settings

__all__ = ["after", "backoff_s", "detail_interval_s", "poll_interval_s"]

RUN_TIME_DIVISOR = 10.0
"""While running, poll about every tenth of the time it has run so far (a 10-minute-old run
every minute), so a long job costs a few dozen calls per hour whatever its length."""


EXPECTED_CHANGE_GRACE_S = 0.5
"""Poll this long after the provider's expected change: its estimates come in whole seconds."""

OVERDUE_FLOOR_S = 1.0
"""Past the provider's estimate, probe no more often than this."""


def poll_interval_s(
    job: Job,
    now: datetime,
    settings: Settings,
    expected_change_at: datetime | None = None,
    *,
    swept: bool = False,
) -> float:
    """The usual interval, cut short when the provider said when the job should change next
    (so a job is seen finishing within a second or so of its estimate, not a whole interval
    later). Once that moment has passed without the change, the probes back off 1 s, 2 s,
    4 s... up to the usual interval: a stale estimate costs a handful of extra calls.

    A ``swept`` job (its provider lists, ``service.jobs.sweeps``) is watched by its sweep; its
    own detailed poll is routine only every ``detail_interval_s``."""
    interval = (
        detail_interval_s(job, now, settings) if swept else _usual_interval_s(job, now, settings)
    )
    if expected_change_at is None:
        return interval
    until = (expected_change_at - now).total_seconds()
    if until > 0:
        return min(interval, until + EXPECTED_CHANGE_GRACE_S)
    return min(interval, max(OVERDUE_FLOOR_S, -until))


def _usual_interval_s(job: Job, now: datetime, settings: Settings) -> float:
    low, high = settings.job_poll_min_s, max(settings.job_poll_max_s, settings.job_poll_min_s)
    if job.status != RUNNING or job.started_at is None:
        return low
    running_for = (now - job.started_at).total_seconds()
    return min(max(running_for / RUN_TIME_DIVISOR, low), high)


def detail_interval_s(job: Job, now: datetime, settings: Settings) -> float:
    """A swept job's routine detailed poll (events, checkpoints): the sweep sees its status
    and counters every few seconds and brings this poll forward when they move."""
    return max(_usual_interval_s(job, now, settings), settings.sweep_detail_interval_s)
