"""The job, declared as a kind on the lifecycle engine: its table, statuses, terminal set,
steps (tasks) and how a failure is classified and recorded. The transition function is
``service.jobs.transitions.transition``; the steps live beside this module."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from providers.base import JobStatus
from service.db.models import Job
from service.jobs.transitions import FAILED, TERMINAL, transition
from service.lifecycle.kind import Kind, StepFailed, classify_provider_errors
from service.settings import Settings

LAUNCH_TASK = "tuneforge.launch_job"
POLL_TASK = "tuneforge.poll_job"
PROMPT_POLL_TASK = "tuneforge.poll_job_now"
"""The same poll, sent at normal priority where routine polls go last: for a poll that is likely
to find the job finished (the provider pushed its end, or its own estimate is due)."""
CANCEL_TASK = "tuneforge.cancel_job"
PAUSE_TASK = "tuneforge.pause_job"
RESUME_TASK = "tuneforge.resume_job"
"""Provider jobs only (a local job's pause and resume are its train task stopping and starting)."""
TRAIN_TASK = "tuneforge.train_job"  # local jobs: one resumable task on the gpu queue


PROVIDER_PAUSED = "paused"
"""OpenAI's raw status of a paused job."""


def next_task(job: Job) -> str:
    if job.provider == "local":
        return TRAIN_TASK
    if job.provider_job_id is None:
        return LAUNCH_TASK
    if job.cancel_requested_at is not None and job.cancel_sent_at is None:
        return CANCEL_TASK
    if job.status == JobStatus.PAUSING:
        return PAUSE_TASK
    if job.status == JobStatus.RUNNING and job.provider_status == PROVIDER_PAUSED:
        return RESUME_TASK  # resumed here, still paused at the provider: tell it
    return POLL_TASK


def fail(session: Session, settings: Settings, job: Any, failed: StepFailed) -> None:
    transition(
        session,
        job,
        FAILED,
        reason=failed.reason,
        error=failed.error,
        usage=failed.usage,
        settings=settings,
    )


JOB = Kind(
    name="job",
    model=Job,
    statuses=JobStatus,
    terminal=TERMINAL,
    next_task=next_task,
    fail=fail,
    classify=classify_provider_errors,
    due_column="next_poll_at",
    prompt_tasks={POLL_TASK: PROMPT_POLL_TASK},
    bulk_tasks=frozenset({POLL_TASK}),
    gpu_tasks=frozenset({TRAIN_TASK}),
)
