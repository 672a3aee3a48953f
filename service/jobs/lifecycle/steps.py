"""A job's next step and its hand-off to the workers: the job kind's names for the engine's
scheduling (``service.lifecycle.schedule``), which explains the outbox and rescue keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.db.models import Job
from service.jobs.lifecycle.kind import (
    CANCEL_TASK,
    JOB,
    LAUNCH_TASK,
    PAUSE_TASK,
    POLL_TASK,
    PROMPT_POLL_TASK,
    RESUME_TASK,
    TRAIN_TASK,
    next_task,
)
from service.lifecycle import schedule as engine

__all__ = [
    "CANCEL_TASK",
    "LAUNCH_TASK",
    "PAUSE_TASK",
    "POLL_TASK",
    "PROMPT_POLL_TASK",
    "RESUME_TASK",
    "TRAIN_TASK",
    "enqueue_step",
    "next_task",
    "schedule",
    "step_key",
]


def step_key(job: Job, rescue: int = 0) -> str:
    return engine.step_key(JOB, job, rescue)


def schedule(
    session: Session,
    job: Job,
    at: datetime,
    *,
    now: datetime | None = None,
    prompt: bool = False,
) -> None:
    engine.schedule(session, JOB, job, at, now=now, prompt=prompt)


def enqueue_step(
    session: Session,
    job: Job,
    rescue: int = 0,
    *,
    available_at: datetime | None = None,
    prompt: bool = False,
) -> None:
    engine.enqueue_step(session, JOB, job, rescue, available_at=available_at, prompt=prompt)
