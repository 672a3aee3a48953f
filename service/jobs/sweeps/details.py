"""The detailed poll a sweep runs itself for the jobs whose listed status moved (one may have
just ended): their events and checkpoints, fetched side by side on a few threads while no
transaction is open, then folded in with the listed snapshot, each job locked, in the round's
own transaction. So an end the list shows is ours, and on its way to the webhooks, within the
round — however many jobs ended at once — instead of after a poll task per job waits its turn.

A job whose details could not be fetched, or whose row a poll holds just now, gets a prompt
poll of its own instead (the poll step classifies its errors)."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

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

MAX_PER_ROUND = 200
"""Status changes a round fetches details for itself; more wait for their own prompt polls."""
THREADS = 8


@dataclass(frozen=True)
class Detail:
    watched: Watched
    found: ProviderJob
    events: list[ProviderEvent]
    checkpoints: list[ProviderCheckpoint]


def fetch(
    sessions: sessionmaker[Session],
    adapter: ProviderAdapter,
    changed: Sequence[tuple[Watched, ProviderJob]],
) -> tuple[list[Detail], list[Watched]]:
    """(details fetched, jobs whose fetch failed)."""
    with session_scope(sessions) as session:
        repository = JobRepository(session)
        after = {w.id: repository.last_provider_event_id(w.id) for w, _ in changed}

    def one(item: tuple[Watched, ProviderJob]) -> Detail | Watched:
        watched, found = item
        try:
            with time_provider_call(adapter.name, "list_events"):
                events = adapter.list_events(watched.provider_job_id, after=after[watched.id])
            checkpoints: list[ProviderCheckpoint] = []
            if watched.status == "running" or found.status in ("running", "succeeded"):
                with time_provider_call(adapter.name, "list_checkpoints"):
                    checkpoints = adapter.list_checkpoints(watched.provider_job_id)
        except ProviderError:
            return watched
        return Detail(watched, found, events, checkpoints)

    with ThreadPoolExecutor(max_workers=min(THREADS, max(len(changed), 1))) as pool:
        outcomes = list(pool.map(one, changed))
    return (
        [o for o in outcomes if isinstance(o, Detail)],
        [o for o in outcomes if isinstance(o, Watched)],
    )


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
