"""Poll: ask the provider where a launched job stands and fold the answer in. The HTTP calls
run outside any transaction, under the job's lease; transient errors only push the next poll
back (honoring Retry-After), permanent ones fail the job with the provider's message."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from providers.base import ProviderAdapter, ProviderCheckpoint, ProviderEvent, ProviderJob
from providers.errors import ProviderPermanentError, ProviderRetryableError
from service.db.session import session_scope
from service.db.types import utcnow
from service.jobs.lifecycle import leases, pacing, steps
from service.jobs.lifecycle.adapters import AdapterFactory, build_adapter, tenant_credentials
from service.jobs.lifecycle.adopt import apply_provider_job
from service.jobs.lifecycle.failing import fail_job
from service.jobs.lifecycle.launch import provider_error
from service.jobs.repository import JobRepository
from service.jobs.transitions import is_terminal
from service.observability.metrics import time_provider_call
from service.settings import Settings

log = logging.getLogger(__name__)

EARLY_S = 0.5
"""A poll delivered this much before its due time still runs (clock skew, relay latency)."""


def poll_job(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    adapter_factory: AdapterFactory,
) -> None:
    """The ``tuneforge.poll_job`` task body; a duplicate or early delivery does nothing."""
    owner = leases.new_owner()
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id)
        if job is None or is_terminal(job.status) or job.provider_job_id is None:
            return
        if steps.next_task(job) != steps.POLL_TASK:
            return
        due = job.next_poll_at
        if due is not None and due > utcnow() + timedelta(seconds=EARLY_S):
            return  # a stale duplicate: the job was polled since this message was sent
        provider, provider_job_id = job.provider, job.provider_job_id
        after = JobRepository(session).last_provider_event_id(job.id)
        running = job.status == "running"
        credentials = tenant_credentials(session, settings, job.tenant_id, provider)
    if not leases.claim(sessions, job_id, owner, settings.lease_ttl_s):
        return
    try:
        adapter = build_adapter(adapter_factory, settings, credentials)
        found, events, checkpoints = _ask(adapter, provider_job_id, after, running)
    except ProviderRetryableError as exc:
        _back_off(sessions, settings, job_id, owner, exc.message, exc.retry_after)
        return
    except ProviderPermanentError as exc:
        fail_job(sessions, settings, job_id, owner, provider_error(exc))
        return
    except Exception as exc:
        log.exception("poll of %s failed unexpectedly", job_id)
        _back_off(sessions, settings, job_id, owner, f"unexpected error: {exc}", None)
        return
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        if job is None or job.lease_owner != owner:
            return
        leases.release(session, job_id, owner)
        apply_provider_job(session, settings, job, found, events, checkpoints)


def _ask(
    adapter: ProviderAdapter, provider_job_id: str, after: str | None, was_running: bool
) -> tuple[ProviderJob, list[ProviderEvent], list[ProviderCheckpoint]]:
    with time_provider_call(adapter.name, "get_job"):
        found = adapter.get_job(provider_job_id)
    with time_provider_call(adapter.name, "list_events"):
        events = adapter.list_events(provider_job_id, after=after)
    # Checkpoints appear while training; skip the call before the run starts.
    if not (was_running or found.status in ("running", "succeeded")):
        return found, events, []
    with time_provider_call(adapter.name, "list_checkpoints"):
        checkpoints = adapter.list_checkpoints(provider_job_id)
    return found, events, checkpoints


def _back_off(
    sessions: sessionmaker[Session],
    settings: Settings,
    job_id: str,
    owner: str,
    reason: str,
    retry_after: float | None,
) -> None:
    log.info("poll of %s backs off: %s", job_id, reason)
    with session_scope(sessions) as session:
        job = JobRepository(session).get(job_id, lock=True)
        if job is None or job.lease_owner != owner:
            return
        leases.release(session, job_id, owner)
        if is_terminal(job.status):
            return
        job.poll_failures += 1
        now = utcnow()
        delay = pacing.backoff_s(job.poll_failures, settings, retry_after)
        steps.schedule(session, job, pacing.after(now, delay), now=now)
