"""The one place a job's status changes.

Statuses are ``JobStatus`` members (the column is typed with the enum and refuses any other
value); they move forward (validating_files → queued → running → a terminal status), into and
out of a pause (running → pausing → paused → queued/running), and a terminal status never
changes again (``MOVES``). Every change writes a ``JobEvent`` saying why, and a
change to running or to a terminal status enqueues the webhook deliveries (and, on terminal,
books the cost) in the same transaction as the change itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from providers.base import TERMINAL_STATUSES, JobStatus
from service.db.models import Job
from service.db.types import utcnow
from service.jobs import costs
from service.jobs.lifecycle.result_files import record_result_files
from service.lifecycle.progress import EventRecord, ProgressWriter
from service.settings import Settings
from service.webhooks.deliveries import enqueue_job_event
from service.webhooks.events import event_type_for_status

VALIDATING_FILES = JobStatus.VALIDATING_FILES
QUEUED = JobStatus.QUEUED
RUNNING = JobStatus.RUNNING
PAUSING = JobStatus.PAUSING
PAUSED = JobStatus.PAUSED
SUCCEEDED = JobStatus.SUCCEEDED
FAILED = JobStatus.FAILED
CANCELLED = JobStatus.CANCELLED

TERMINAL: frozenset[JobStatus] = TERMINAL_STATUSES
ACTIVE: tuple[JobStatus, ...] = tuple(s for s in JobStatus if s not in TERMINAL)
_ENDS = frozenset({SUCCEEDED, FAILED, CANCELLED})
MOVES: dict[JobStatus, frozenset[JobStatus]] = {
    VALIDATING_FILES: frozenset({QUEUED, RUNNING}) | _ENDS,
    QUEUED: frozenset({RUNNING}) | _ENDS,
    RUNNING: frozenset({PAUSING, PAUSED}) | _ENDS,
    # A pause may cross the job's end; a paused job resumes (queued while it waits for a
    # worker, or running at once when the provider says so).
    PAUSING: frozenset({PAUSED, RUNNING}) | _ENDS,
    PAUSED: frozenset({QUEUED, RUNNING}) | _ENDS,
    SUCCEEDED: frozenset(),
    FAILED: frozenset(),
    CANCELLED: frozenset(),
}
"""The allowed moves: forward (a provider may skip statuses between polls, queued →
succeeded), into and out of a pause, and never out of a terminal status."""


class InvalidTransition(RuntimeError):
    """A programming error: a caller asked for a move the state machine forbids."""


def is_terminal(status: JobStatus | str) -> bool:
    return status in TERMINAL


def can_move(current: JobStatus | str, target: JobStatus | str) -> bool:
    """Whether ``current`` → ``target`` is allowed (an unknown status never moves)."""
    try:
        return JobStatus(target) in MOVES[JobStatus(current)]
    except ValueError:
        return False


def transition(
    session: Session,
    job: Job,
    target: JobStatus,
    *,
    reason: str,
    settings: Settings,
    error: dict[str, Any] | None = None,
    usage: costs.FinalUsage | None = None,
    level: str | None = None,
    now: datetime | None = None,
    results: Sequence[tuple[str, Path]] = (),
) -> bool:
    """Move ``job`` to ``target`` and record why. Returns False when the job is already there
    (a duplicate delivery, a repeated poll). On a terminal status the actual cost is booked
    from ``usage``; on success the result files (the metrics CSV, plus ``results``: a local
    job's outputs as (name, path)) become file rows listed in ``job.result_files``. Raises
    ``InvalidTransition`` for a move backwards or out of a terminal status."""
    if job.status == target:
        return False
    if not can_move(job.status, target):
        raise InvalidTransition(f"job {job.id}: {job.status} → {target} is not allowed")
    now = now or utcnow()
    previous = job.status
    job.status = target
    job.updated_at = now
    if target == RUNNING and job.started_at is None:
        job.started_at = now
    if target in TERMINAL:
        job.finished_at = now
        job.next_poll_at = None
        job.lease_owner = None
        job.lease_expires_at = None
        if target == FAILED:
            job.error = error or {"code": "failed", "message": reason, "param": None}
        if target == SUCCEEDED:
            record_result_files(session, settings, job, results)
    ProgressWriter(session, job).stage_event(
        EventRecord(
            _message(target, reason),
            level=level or ("error" if target == FAILED else "info"),
            data={"from": str(previous), "to": str(target), "reason": reason},
            created_at=now,
        )
    )
    session.flush()
    if target in TERMINAL:
        costs.book_final_cost(session, settings, job, usage or costs.FinalUsage(), now=now)
    event_type = event_type_for_status(target)
    if event_type is not None:
        enqueue_job_event(session, job, event_type, now=now)
    return True


def _message(target: JobStatus, reason: str) -> str:
    titles = {
        VALIDATING_FILES: "Validating training file",
        QUEUED: "Job queued",
        RUNNING: "Fine-tuning job started",
        PAUSING: "Pausing the job",
        PAUSED: "The job is paused",
        SUCCEEDED: "The job has successfully completed",
        FAILED: "The job failed",
        CANCELLED: "The job was cancelled",
    }
    return f"{titles[target]}: {reason}" if reason else titles[target]
