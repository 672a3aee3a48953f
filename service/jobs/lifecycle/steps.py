"""A job's next step and its hand-off to the workers.

Every active job has ``next_poll_at``: when its next step (launch, cancel or poll) is due.
Scheduling a step that is due within the outbox's near-term horizon writes its outbox row at
once, relayed to Celery after commit with a countdown to its due time; a later step is left to
the reconciler. The reconciler scans for steps that are due and enqueues them under the step's
own dedupe key (a no-op for a step already written), and under a fresh key once a step is
overdue by ``rescue_after`` — so a message lost by the broker (or held, with its countdown, by
a worker that died) only delays a job, and a live message is never doubled.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from service import outbox
from service.db.models import Job
from service.db.types import utcnow

LAUNCH_TASK = "tuneforge.launch_job"
POLL_TASK = "tuneforge.poll_job"
PROMPT_POLL_TASK = "tuneforge.poll_job_now"
"""The same poll, sent at normal priority where routine polls go last: for a poll that is likely
to find the job finished (the provider pushed its end, or its own estimate is due)."""
CANCEL_TASK = "tuneforge.cancel_job"
TRAIN_TASK = "tuneforge.train_job"  # local jobs: one resumable task on the gpu queue


def next_task(job: Job) -> str:
    if job.provider == "local":
        return TRAIN_TASK
    if job.provider_job_id is None:
        return LAUNCH_TASK
    if job.cancel_requested_at is not None and job.cancel_sent_at is None:
        return CANCEL_TASK
    return POLL_TASK


def step_key(job: Job, rescue: int = 0) -> str:
    """One key per scheduled step (and per rescue of it): dedupes relays of the same step."""
    assert job.next_poll_at is not None
    millis = int(job.next_poll_at.timestamp() * 1000)
    return f"{next_task(job)}:{job.id}:{millis}:{rescue}"


def schedule(
    session: Session,
    job: Job,
    at: datetime,
    *,
    now: datetime | None = None,
    prompt: bool = False,
) -> None:
    """Set when the job's next step is due; if that is within the outbox's near-term horizon,
    write its outbox row now, to be sent after commit and run at ``at`` (a ``prompt`` poll ahead
    of routine ones)."""
    now = now or utcnow()
    job.next_poll_at = at
    session.flush()
    if at <= now + timedelta(seconds=outbox.NEAR_TERM_S):
        enqueue_step(session, job, available_at=max(at, now), prompt=prompt)


def enqueue_step(
    session: Session,
    job: Job,
    rescue: int = 0,
    *,
    available_at: datetime | None = None,
    prompt: bool = False,
) -> None:
    task = next_task(job)
    outbox.enqueue(
        session,
        task=PROMPT_POLL_TASK if prompt and task == POLL_TASK else task,
        target_id=job.id,
        dedupe_key=step_key(job, rescue),
        tenant_id=job.tenant_id,
        available_at=available_at,
    )
