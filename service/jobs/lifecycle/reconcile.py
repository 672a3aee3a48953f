"""The reconciler's half for jobs: every active job whose next step is due (and whose lease,
if any, has expired) is handed to the workers again — under the step's own dedupe key at
first, and under a fresh key once it is overdue by ``rescue_after_s``, then by 3×, 7×, 15×…
that, so a message the broker lost (a flushed Redis, a killed worker) is sent again, a live
one is not doubled, and one merely waiting in a backlogged queue is re-sent only a few times
(each re-send lengthens the very backlog it waits in).

A step due before the next tick is sent at this one, with a countdown to its due time: a poll
brought forward to a provider's estimated finish then runs on time, not up to a tick late."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service.jobs.lifecycle import steps
from service.jobs.repository import JobRepository
from service.settings import Settings


def rescue_after_s(settings: Settings) -> float:
    return max(settings.lease_ttl_s, 4 * settings.reconcile_interval_s)


def rescue_number(overdue_s: float, rescue_after: float) -> int:
    """0 until ``rescue_after``; n once overdue by (2**n - 1) × ``rescue_after``."""
    if overdue_s < rescue_after:
        return 0
    return int(math.log2(overdue_s / rescue_after + 1))


def enqueue_due_jobs(session: Session, settings: Settings, now: datetime, limit: int = 2000) -> int:
    rescue_after = rescue_after_s(settings)
    next_tick = now + timedelta(seconds=settings.reconcile_interval_s)
    count = 0
    for job in JobRepository(session).due_jobs(now, limit, due_by=next_tick):
        assert job.next_poll_at is not None
        overdue = (now - job.next_poll_at).total_seconds()
        if overdue < 0:
            steps.enqueue_step(session, job, available_at=job.next_poll_at)
        else:
            steps.enqueue_step(session, job, rescue=rescue_number(overdue, rescue_after))
        count += 1
    return count
