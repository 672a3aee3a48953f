"""The detailed poll a sweep runs itself for the jobs whose listed status moved (one may have
just ended). Each is handed over as soon as its page is read, while the round reads the next
pages, and ended jobs go ahead of the others: a few threads fetch the job's events and
checkpoints (no transaction open) and fold them in with the listed snapshot in a transaction
of the job's own (its row locked), so an end the list shows is ours, and on its way to the
webhooks, within a second or two of its page, not after the round's last page or a poll task
per job.

A job whose details could not be fetched, or whose row a poll holds just now, gets a prompt
poll of its own instead (the poll step classifies its errors)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from providers.base import ProviderAdapter, ProviderCheckpoint, ProviderEvent, ProviderJob
from providers.errors import ProviderError
from service.db.models import Job
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.repository import JobRepository
from service.jobs.sweeps.compare import Watched
from service.lifecycle import leases
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)

MAX_PER_ROUND = 200
"""Status changes a round fetches details for itself; more wait for their own prompt polls."""
THREADS = 8


@dataclass(frozen=True)
class Detail:
    watched: Watched
    found: ProviderJob
    events: list[ProviderEvent]
    checkpoints: list[ProviderCheckpoint]


@dataclass
class Outcomes:
    applied: list[Watched] = field(default_factory=list)
    """Folded in within the round."""
    prompt: list[Watched] = field(default_factory=list)
    """Not folded in (details failed, a poll held the row, over the round's cap): poll now."""


class DetailPool:
    """Fetches and folds in the details of status changes while the round goes on reading
    pages. On PostgreSQL the jobs are folded in side by side (each locks its own row; a job's
    end is some 25 statements, so their round trips overlap); SQLite has one writer, so
    there they take turns."""

    def __init__(
        self, sessions: sessionmaker[Session], settings: Settings, adapter: ProviderAdapter
    ) -> None:
        self.sessions, self.settings, self.adapter = sessions, settings, adapter
        self._pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="sweep-detail")
        one_writer = _sqlite(sessions)
        self._write: threading.Lock | contextlib.nullcontext[None] = (
            threading.Lock() if one_writer else contextlib.nullcontext()
        )
        self._futures: list[Future[tuple[Watched, bool]]] = []
        self._over: list[Watched] = []

    def __enter__(self) -> DetailPool:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # Even when a later page failed, the jobs handed over are finished: each is a few
        # calls and its own transaction, and an end already read is not left for next round.
        self._pool.shutdown(wait=True)

    def submit(self, changed: Sequence[tuple[Watched, ProviderJob]]) -> None:
        """One page's status changes: the ended jobs first."""
        ordered = sorted(changed, key=lambda item: not item[1].status.is_terminal)
        for watched, found in ordered:
            if len(self._futures) >= MAX_PER_ROUND:
                self._over.append(watched)
            else:
                self._futures.append(self._pool.submit(self._one, watched, found))

    def results(self) -> Outcomes:
        """Wait for every job handed over."""
        outcomes = Outcomes(prompt=list(self._over))
        for future in self._futures:
            watched, applied = future.result()
            (outcomes.applied if applied else outcomes.prompt).append(watched)
        return outcomes

    def _one(self, watched: Watched, found: ProviderJob) -> tuple[Watched, bool]:
        try:
            detail = fetch_one(self.sessions, self.adapter, watched, found)
            if detail is None:
                return watched, False
            with self._write, session_scope(self.sessions) as session:
                return watched, apply(session, self.settings, detail)
        except Exception:
            # One job's trouble (a deadlock, a bug) is its own poll's to report; the round
            # and the other jobs' ends go on.
            log.exception("sweep: folding in job %s failed; its own poll follows", watched.id)
            return watched, False


def _sqlite(sessions: sessionmaker[Session]) -> bool:
    bind = sessions.kw.get("bind")
    return bind is None or bind.dialect.name == "sqlite"


def fetch_one(
    sessions: sessionmaker[Session], adapter: ProviderAdapter, watched: Watched, found: ProviderJob
) -> Detail | None:
    """The job's events (after the last we hold) and checkpoints; None when a call failed."""
    with session_scope(sessions) as session:
        after = JobRepository(session).last_provider_event_id(watched.id)
    try:
        with time_provider_call(adapter.name, "list_events"):
            events = adapter.list_events(watched.provider_job_id, after=after)
        checkpoints: list[ProviderCheckpoint] = []
        if watched.status == "running" or found.status in ("running", "succeeded"):
            with time_provider_call(adapter.name, "list_checkpoints"):
                checkpoints = adapter.list_checkpoints(watched.provider_job_id)
    except ProviderError:
        return None
    return Detail(watched, found, events, checkpoints)


def apply(session: Session, settings: Settings, detail: Detail) -> bool:
    """Fold one job's details in (row locked); False when a poll holds the job right now."""
    query = select(Job).where(Job.id == detail.watched.id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    job = session.scalars(query.execution_options(populate_existing=True)).first()
    if job is None or job.status != detail.watched.status:
        return job is not None  # gone, or moved on since the list: nothing to add
    if job.lease_expires_at is not None and job.lease_expires_at > utcnow():
        return False
    if job.lease_owner is not None:
        leases.release(job, job.lease_owner)  # an expired lease: the round carries it on
    apply_provider_job(session, settings, job, detail.found, detail.events, detail.checkpoints)
    return True
