"""Ending a job on a permanent error from inside a task that holds its lease."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.db.session import session_scope
from service.jobs.lifecycle import leases
from service.jobs.repository import JobRepository
from service.jobs.transitions import FAILED, is_terminal, transition
from service.settings import Settings


def fail_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    owner: str,
    error: dict[str, Any],
) -> None:
    """Fail the job with ``error`` (code, message, param) and give back ``owner``'s lease;
    a job that already ended is left as it is."""
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        if job is None or is_terminal(job.status):
            return
        leases.release(session, job_id, owner)
        transition(
            session, job, FAILED, reason=str(error["message"]), error=error, settings=settings
        )
