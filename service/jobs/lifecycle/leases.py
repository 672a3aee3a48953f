"""Database leases on a job: whoever holds a live lease is the only one working on it. A
duplicate task delivery sees the live lease and exits; a worker that dies stops renewing and
its lease expires, after which the reconciler hands the job to another worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.repository import JobRepository

log = logging.getLogger(__name__)


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def claim(sessions: sessionmaker[Session], job_id: str, owner: str, ttl_s: float) -> bool:
    """Take the lease in its own committed transaction; False if someone holds a live one."""
    now = utcnow()
    with session_scope(sessions) as session:
        return JobRepository(session).claim_lease(
            job_id, owner, now, now + timedelta(seconds=ttl_s)
        )


def renew(sessions: sessionmaker[Session], job_id: str, owner: str, ttl_s: float) -> bool:
    now = utcnow()
    with session_scope(sessions) as session:
        return JobRepository(session).extend_lease(
            job_id, owner, now, now + timedelta(seconds=ttl_s)
        )


def release(session: Session, job_id: str, owner: str) -> None:
    """Drop the lease inside the caller's transaction (with the work it protected)."""
    job = JobRepository(session).get(job_id)
    if job is not None and job.lease_owner == owner:
        job.lease_owner = None
        job.lease_expires_at = None


class LeaseLost(RuntimeError):
    """The lease expired and another worker may have taken the job."""


@contextmanager
def heartbeat(
    sessions: sessionmaker[Session], job_id: str, owner: str, ttl_s: float
) -> Iterator[threading.Event]:
    """Renew the lease every ``ttl_s / 3`` while the block runs. The yielded event is set when
    a renewal found the lease gone, so the holder can stop before a side effect."""
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(ttl_s / 3):
            try:
                if not renew(sessions, job_id, owner, ttl_s):
                    lost.set()
                    return
            except Exception:
                log.warning("lease renewal for %s failed; will retry", job_id, exc_info=True)

    thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join(timeout=5)
