"""The reconciler's half for jobs: every active job whose next step is due (and whose lease,
if any, has expired) is handed to the workers again — under the step's own dedupe key at
first, and under a fresh key for each ``rescue_after_s`` it stays overdue, so a message the
broker lost (a flushed Redis, a killed worker) is sent again, and a live one is not doubled."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.jobs import steps
from service.jobs.repository import JobRepository
from service.settings import Settings


def rescue_after_s(settings: Settings) -> float:
    return max(settings.lease_ttl_s, 4 * settings.reconcile_interval_s)


def enqueue_due_jobs(session: Session, settings: Settings, now: datetime, limit: int = 2000) -> int:
    rescue_after = rescue_after_s(settings)
    count = 0
    for job in JobRepository(session).due_jobs(now, limit):
        assert job.next_poll_at is not None
        overdue = (now - job.next_poll_at).total_seconds()
        steps.enqueue_step(session, job, rescue=int(overdue // rescue_after))
        count += 1
    return count
