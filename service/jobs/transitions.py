"""The one place a job's status changes.

Statuses only move forward (validating_files → queued → running → a terminal status); a
terminal status never changes again. Every change writes a ``JobEvent`` saying why, and a
change to running or to a terminal status enqueues the webhook deliveries (and, on terminal,
books the cost) in the same transaction as the change itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.db.models import Job
from service.db.types import utcnow
from service.jobs import costs
from service.lifecycle.progress import EventRecord, ProgressWriter
from service.settings import Settings
from service.webhooks.deliveries import enqueue_job_event
from service.webhooks.events import event_type_for_status

VALIDATING_FILES = "validating_files"
QUEUED = "queued"
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"

TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})
ACTIVE = (VALIDATING_FILES, QUEUED, RUNNING)
_RANK = {VALIDATING_FILES: 0, QUEUED: 1, RUNNING: 2, SUCCEEDED: 3, FAILED: 3, CANCELLED: 3}


class InvalidTransition(RuntimeError):
    """A programming error: a caller asked for a move the state machine forbids."""


def is_terminal(status: str) -> bool:
    return status in TERMINAL


def can_move(current: str, target: str) -> bool:
    """Forward moves only; a provider may skip statuses (queued → succeeded) between polls."""
    if current not in _RANK or target not in _RANK:
        return False
    return current not in TERMINAL and _RANK[target] > _RANK[current]


def transition(
    session: Session,
    job: Job,
    target: str,
    *,
    reason: str,
    settings: Settings,
    error: dict[str, Any] | None = None,
    usage: costs.FinalUsage | None = None,
    level: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Move ``job`` to ``target`` and record why. Returns False when the job is already there
    (a duplicate delivery, a repeated poll). On a terminal status the actual cost is booked
    from ``usage``. Raises ``InvalidTransition`` for a move backwards
    or out of a terminal status."""
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
    ProgressWriter(session, job).stage_event(
        EventRecord(
            _message(target, reason),
            level=level or ("error" if target == FAILED else "info"),
            data={"from": previous, "to": target, "reason": reason},
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


def _message(target: str, reason: str) -> str:
    titles = {
        VALIDATING_FILES: "Validating training file",
        QUEUED: "Job queued",
        RUNNING: "Fine-tuning job started",
        SUCCEEDED: "The job has successfully completed",
        FAILED: "The job failed",
        CANCELLED: "The job was cancelled",
    }
    return f"{titles[target]}: {reason}" if reason else titles[target]
